//! Every integration test in one binary: the loopback provider and the egui stack
//! are compiled and linked once instead of once per file, which keeps a clean CI
//! build within budget. Each module is one area, as its first lines say.

mod support;

mod assets;
mod browser_sign_in;
mod cli_data_source_set;
mod cli_keepalive;
mod cli_schedule;
mod cli_sign_in;
mod cli_vault;
mod gateway;
mod gateway_limits;
mod gateway_pressure;
mod gateway_tls;
mod grant_chaos;
mod grant_safety;
mod gui;
mod gui_layout;
mod gui_new_source;
mod gui_notifications;
mod gui_one_state;
mod gui_provider_words;
mod gui_settings_pending;
mod gui_shared_vault;
mod gui_sign_in_kept;
mod gui_sign_in_steps;
mod gui_state;
mod gui_time_left;
mod gui_window;
mod identity_device_flow;
mod identity_refresh_errors;
mod keepalive;
mod layers;
#[cfg(unix)]
mod mail_xoauth2;
mod notify;
mod oidc_conformance;
mod oidc_shared_vault;
mod provider_truth;
#[cfg(unix)]
mod relay;
mod revocation;
mod secret_service;
mod vault_backend;
mod vault_chaos;
mod vault_failover;
mod vault_migrate_kill;
mod vault_postgres;
mod vault_processes;
mod vault_redeem;
mod vault_rotate;
mod vault_store;
mod vault_tls;
mod vault_went_back;
mod windows_wine;
