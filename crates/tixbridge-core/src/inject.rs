//! inject (todo)
