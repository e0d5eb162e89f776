//! The outbox events of exchange changes: ids and coded attributes only,
//! never a name, address, date of birth or e-mail address.

use crate::{
    entities::{agreements, institutions, participants, placements},
    integration::outbox::{Actie, Kanaal, Notification},
};

pub(crate) fn institution(actie: Actie, m: &institutions::Model) -> Notification {
    Notification::new(Kanaal::Institutions, actie, m.id)
        .with("kind", &m.kind)
        .with("country", &m.country)
        .with("sisterCity", m.sister_city)
}

pub(crate) fn agreement(actie: Actie, m: &agreements::Model) -> Notification {
    Notification::new(Kanaal::Agreements, actie, m.id)
        .with("programme", &m.programme)
        .with("status", &m.status)
}

pub(crate) fn participant(actie: Actie, m: &participants::Model) -> Notification {
    Notification::new(Kanaal::Participants, actie, m.id).with("educationLevel", &m.education_level)
}

pub(crate) fn placement(actie: Actie, m: &placements::Model) -> Notification {
    let n = Notification::new(Kanaal::Placements, actie, m.id)
        .with("status", &m.status)
        .with("direction", &m.direction)
        .with("kind", &m.kind)
        .with("educationLevel", &m.education_level)
        .with("country", &m.country)
        .with("year", m.year);
    match &m.funding_programme {
        Some(p) => n.with("programme", p),
        None => n,
    }
}

/// A placement's status change, with its new status.
pub(crate) fn placement_status(m: &placements::Model, to: &str) -> Notification {
    let mut n = placement(Actie::StatusChange, m);
    n.kenmerken.insert("status".to_owned(), to.to_owned());
    n
}
