//! CSV import (in progress)
