//! Staff accounts, passwords, sessions, TOTP, roles, and `access`: who may do what.

pub mod access;
pub mod api;
pub mod bootstrap;
pub mod four_eyes;
pub mod grant_decisions;
pub mod grants_api;
pub mod invitations;
pub mod model;
pub mod password;
pub mod self_service;
pub mod sign_in;
pub mod staff_admin;
pub mod staff_rules;
pub mod store;
pub mod throttle;
pub mod totp;
pub mod views;

use api::StaffApi;
use grants_api::RoleGrantsApi;
use self_service::SelfServiceApi;

crate::http::area_apis!(SelfServiceApi, StaffApi, RoleGrantsApi);
