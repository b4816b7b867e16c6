//! Deliveries: what the workers claim and record, and what users list,
//! redeliver and park.

mod claim;
mod user_side;
mod worker_side;

pub use claim::*;
pub use user_side::*;
pub use worker_side::*;
