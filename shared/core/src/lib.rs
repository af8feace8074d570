//! Secure-2FA domain: parsed types, the OTP state machine and use cases,
//! API payload crypto, field (envelope) encryption and the ports that adapters
//! implement.
//!
//! This crate performs no I/O of its own and must not depend on AWS, HTTP
//! frameworks or SQLite: every effect goes through a trait in [`ports`].

pub mod accounts;
pub mod cached_store;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod manage;
pub mod metrics;
pub mod model;
pub mod otp;
pub mod ports;
pub mod providers;
pub mod quota;
pub mod render;
pub mod secrets;
pub mod services;
pub mod types;

pub use clock::{Clock, SystemClock, UnixTime};
