//! Prices: the one rule every price follows, wherever it comes from — the ticketing
//! import's `price` column, the wallet's JSON `purchaseDetails.price` and its CSV
//! `purchaseDetails.price` cell (issue 7, item 2).
//!
//! A price is a plain decimal with a dot — digits, optionally a dot and more digits
//! (`45`, `45.5`, `45.50`) — never negative, with at most as many decimals as its
//! currency has minor units in ISO 4217 (the table of the `iso_currency` crate): two
//! for `EUR` and `USD`, none for `JPY`, three for `BHD`. So `1,234`, `4.205` in `USD`,
//! `-4.20`, `+4`, `.5`, `5.`, `1e3` and `4 5` are all refused.
//!
//! Decisions where the issue is silent:
//! - Currency codes are matched case-insensitively (`eur` is `EUR`).
//! - A price without a currency takes at most two decimals (the ticketing import's
//!   rule before currencies were checked).
//! - A price in a code that is not in ISO 4217 (`EURO`, `PTS`) is refused, naming the
//!   currency: its decimals cannot be checked. So is a price in a code ISO 4217 gives
//!   no minor unit (`XAU`, gold). A currency without a price is not checked here.
//! - A JSON number is checked on its shortest decimal form (Rust's `f64` display):
//!   `4.205` is refused in `USD`, `4.20` is the number `4.2` and accepted.

/// Decimals of a price without currency.
pub const DEFAULT_MINOR_UNITS: u8 = 2;

/// A price that follows the rule: `minor_units / 10^exponent` of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// The amount in the currency's smallest unit (cents for `EUR`).
    pub minor_units: i64,
    /// The currency's minor units (ISO 4217 exponent), or [`DEFAULT_MINOR_UNITS`].
    pub exponent: u8,
}

impl Price {
    /// The amount in hundredths (what ticketing keeps as `price_cents`), when it fits:
    /// `None` for a thousandth that is not zero (a three-decimal currency) or an
    /// overflow.
    pub fn hundredths(self) -> Option<i64> {
        if self.exponent <= 2 {
            self.minor_units
                .checked_mul(10i64.pow(u32::from(2 - self.exponent)))
        } else {
            let div = 10i64.pow(u32::from(self.exponent - 2));
            (self.minor_units % div == 0).then_some(self.minor_units / div)
        }
    }

    /// The amount as a JSON number (what the wallet API carries).
    pub fn to_f64(self) -> f64 {
        self.minor_units as f64 / 10f64.powi(i32::from(self.exponent))
    }
}

/// Why a price (or its currency) is refused. The message starts with the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("{text:?} is not a price; write a plain decimal with a dot, such as 45.50")]
    NotDecimal { text: String },
    #[error("{text:?} is not a price; a price is never negative")]
    Negative { text: String },
    #[error("{text:?} is not a price in {currency}; it takes at most {max} decimal(s)")]
    TooManyDecimals {
        text: String,
        /// The currency code, or "a price without currency".
        currency: String,
        max: u8,
    },
    #[error("{text:?} is not a price; it is too large")]
    TooLarge { text: String },
    #[error(
        "{code:?} is not an ISO 4217 currency code (such as EUR), so a price in it cannot be checked"
    )]
    UnknownCurrency { code: String },
    #[error("{code:?} has no minor unit in ISO 4217, so it cannot carry a price")]
    NoMinorUnit { code: String },
}

impl PriceError {
    /// Whether the fault is the currency's (name the currency field) rather than the
    /// price's.
    pub fn is_currency_error(&self) -> bool {
        matches!(
            self,
            Self::UnknownCurrency { .. } | Self::NoMinorUnit { .. }
        )
    }
}

/// The minor units (ISO 4217 exponent) of a currency code, case-insensitive; `None`
/// (no currency) is [`DEFAULT_MINOR_UNITS`].
pub fn minor_units(currency: Option<&str>) -> Result<u8, PriceError> {
    let Some(code) = currency.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(DEFAULT_MINOR_UNITS);
    };
    let found = iso_currency::Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(|| {
        PriceError::UnknownCurrency {
            code: code.to_owned(),
        }
    })?;
    found
        .exponent()
        .and_then(|e| u8::try_from(e).ok())
        .ok_or_else(|| PriceError::NoMinorUnit {
            code: code.to_owned(),
        })
}

/// Parses a price's text (already trimmed by the caller) for `currency`: the rule of
/// the module's header.
pub fn parse_price(text: &str, currency: Option<&str>) -> Result<Price, PriceError> {
    let exponent = minor_units(currency)?;
    if text.starts_with('-') {
        return Err(PriceError::Negative { text: text.into() });
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(frac)) {
        return Err(PriceError::NotDecimal { text: text.into() });
    }
    if frac.len() > usize::from(exponent) {
        return Err(PriceError::TooManyDecimals {
            text: text.into(),
            currency: currency
                .map(|c| c.trim().to_ascii_uppercase())
                .unwrap_or_else(|| "a price without currency".into()),
            max: exponent,
        });
    }
    let too_large = || PriceError::TooLarge { text: text.into() };
    let scaled = format!("{whole}{frac:0<width$}", width = usize::from(exponent));
    let minor_units = scaled.parse::<i64>().map_err(|_| too_large())?;
    Ok(Price {
        minor_units,
        exponent,
    })
}

/// Checks a price given as a JSON number: the rule applies to its shortest decimal
/// form (`4.205`, `-4.2`, `1e21` written out in full).
pub fn check_number(value: f64, currency: Option<&str>) -> Result<Price, PriceError> {
    if !value.is_finite() {
        return Err(PriceError::NotDecimal {
            text: value.to_string(),
        });
    }
    // `Display` of f64 is the shortest form that reads back the same number, written
    // without exponent (1e21 → "1000000000000000000000").
    parse_price(&value.to_string(), currency)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(text: &str, cur: Option<&str>) -> Result<i64, PriceError> {
        parse_price(text, cur).map(|p| p.minor_units)
    }

    #[test]
    fn plain_decimals_within_the_currency_minor_units() {
        assert_eq!(minor("45.50", Some("EUR")), Ok(4550));
        assert_eq!(minor("45.5", Some("usd")), Ok(4550));
        assert_eq!(minor("45", Some("USD")), Ok(4500));
        assert_eq!(minor("0.07", None), Ok(7));
        assert_eq!(minor("4500", Some("JPY")), Ok(4500));
        assert_eq!(minor("4.205", Some("BHD")), Ok(4205));
    }

    #[test]
    fn everything_else_is_refused() {
        for (bad, cur) in [
            ("1,234", Some("USD")),
            ("4.205", Some("USD")),
            ("-4.20", Some("USD")),
            ("+4", None),
            (".5", None),
            ("5.", None),
            ("1e3", None),
            ("4 5", None),
            ("", None),
            ("45.5", Some("JPY")),
            ("99999999999999999999", None),
        ] {
            assert!(parse_price(bad, cur).is_err(), "{bad} {cur:?}");
        }
        assert!(matches!(
            parse_price("-4.20", Some("USD")),
            Err(PriceError::Negative { .. })
        ));
        assert_eq!(
            parse_price("4.205", Some("USD")).unwrap_err().to_string(),
            "\"4.205\" is not a price in USD; it takes at most 2 decimal(s)"
        );
    }

    #[test]
    fn unknown_currencies_are_the_currency_fault() {
        let e = parse_price("4", Some("EURO")).unwrap_err();
        assert!(e.is_currency_error(), "{e}");
        assert!(
            parse_price("4", Some("XAU"))
                .unwrap_err()
                .is_currency_error()
        );
        assert!(
            !parse_price("x", Some("EUR"))
                .unwrap_err()
                .is_currency_error()
        );
    }

    #[test]
    fn json_numbers_are_checked_on_their_shortest_form() {
        assert_eq!(
            check_number(4.2, Some("USD")).map(|p| p.minor_units),
            Ok(420)
        );
        assert_eq!(
            check_number(120.0, Some("EUR")).map(|p| p.minor_units),
            Ok(12000)
        );
        assert!(check_number(4.205, Some("USD")).is_err());
        assert!(check_number(-4.2, Some("USD")).is_err());
        assert!(check_number(-0.0, None).is_err());
        assert!(check_number(1e21, None).is_err());
        assert!(check_number(0.1 + 0.2, Some("EUR")).is_err());
    }

    #[test]
    fn hundredths_of_each_exponent() {
        let p = |t, c| parse_price(t, Some(c)).unwrap();
        assert_eq!(p("45", "JPY").hundredths(), Some(4500));
        assert_eq!(p("45.5", "EUR").hundredths(), Some(4550));
        assert_eq!(p("4.200", "BHD").hundredths(), Some(420));
        assert_eq!(p("4.205", "BHD").hundredths(), None);
        assert_eq!(p("45.5", "EUR").to_f64(), 45.5);
    }
}
