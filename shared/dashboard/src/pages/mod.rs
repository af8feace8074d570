//! The page handlers, one module per part of the dashboard.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod channels;
pub(crate) mod home;
pub(crate) mod projects;
pub(crate) mod templates;
pub(crate) mod time;
