//! Queries and writes of the records lifecycle.

mod index;
mod lists;
mod rules;
pub use index::*;
pub use lists::*;
pub use rules::*;
