//! moodlog: a mood-tracking backend. People record how they feel and keep a
//! streak of consecutive days; this crate serves that over HTTP.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;
pub mod web;

pub use app::Application;
pub use config::Config;
