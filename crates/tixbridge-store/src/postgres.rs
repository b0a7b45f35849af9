//! postgres (in progress)
