//! Staff accounts, passwords, sessions, TOTP, roles, and `access`: who may do what.

pub(crate) mod access;
pub(crate) mod api;
pub mod bootstrap;
pub(crate) mod four_eyes;
pub(crate) mod grant_decisions;
pub(crate) mod grants_api;
pub(crate) mod invitations;
pub mod model;
pub mod password;
pub(crate) mod self_service;
pub(crate) mod sign_in;
pub(crate) mod staff_admin;
pub(crate) mod staff_rules;
pub(crate) mod store;
pub(crate) mod throttle;
pub mod totp;
pub(crate) mod views;

use api::StaffApi;
use grants_api::RoleGrantsApi;
use self_service::SelfServiceApi;

crate::http::area_apis!(SelfServiceApi, StaffApi, RoleGrantsApi);
