//! HTTP integration tests: each test starts the real application on port 0
//! with its own temporary database and talks to it over HTTP.

#[path = "../common/postgres.rs"]
mod postgres_support;
mod support;

mod accounts;
mod contract;
mod faults;
mod mood;
mod security;
mod web;
