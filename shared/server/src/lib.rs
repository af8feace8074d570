//! The local server: every port bound to its embedded adapter, the shared
//! routers served on one address, and the workers running in-process as
//! pollers of the durable job table.

mod app;
mod demo;
mod dev_routes;
mod workers;

pub use app::{LocalApp, LocalConfig, check_listen_address};
pub use demo::DevCredentials;
