//! The relay's integration tests, in one binary so the whole dependency graph is linked once.

mod common;
mod media_support;

mod access;
mod agent;
mod agent_limits;
mod agent_link;
mod auth;
mod backend_switch;
mod catalog;
mod connections;
mod credentials;
mod daydream_client;
mod dns_answers;
mod events;
mod health;
mod http_errors;
mod legacy;
mod lifecycle;
mod local_backend;
mod media_effect;
mod media_forwarding;
mod media_http;
mod media_reach;
mod properties;
mod sessions;
mod sign_in;
mod signalling;
mod startup;
mod static_files;
mod status_poller;
mod streams;
