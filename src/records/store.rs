//! Queries and writes of the records lifecycle.

mod index;
mod lists;
mod rules;
pub(crate) use index::{
    build, held, list_records, mark_destroyed, parts_of, record, records_in, rederive, release,
    sync, RecordFilter,
};
pub(crate) use lists::{
    all_items, change_status, create_list, destruction_totals, eligible, holds_secret, items, list,
    list_for_update, list_lists, refusals, remove_item, remove_list, review, set_hold, take_off,
    ItemDecision, ListError, MAX_ITEMS,
};
pub(crate) use rules::{list_rules, rule, seed_defaults, update_rule};
