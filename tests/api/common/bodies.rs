//! Typed request bodies for the records most tests make, with the values a
//! test does not care about filled in: `NewDefender::named("Osprey")`,
//! `NewStay::of(&defender_id)`. A test changes what it is about with the
//! fields (`NewStay { confidentiality: "secret", ..NewStay::of(&id) }`) and
//! posts it with [`super::TestApp::create`]. Field names are the API's
//! (camelCase on the wire), so a renamed field fails every test that uses it.

use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDefender {
    pub codename: String,
    pub country_of_work: &'static str,
    pub field_of_work: &'static str,
    pub languages: Vec<&'static str>,
    pub risk_level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
}

impl NewDefender {
    /// A defender from Uganda working on labour rights, at high risk, with
    /// no identity.
    pub fn named(codename: &str) -> Self {
        NewDefender {
            codename: codename.to_owned(),
            country_of_work: "UG",
            field_of_work: "labour",
            languages: vec!["English"],
            risk_level: "high",
            identity: None,
        }
    }

    /// The same, with a legal name (and a date of birth) in the identity.
    pub fn with_legal_name(self, legal_name: &str) -> Self {
        NewDefender {
            identity: Some(json!({"legalName": legal_name, "dateOfBirth": "1985-02-03"})),
            ..self
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewStay {
    pub defender_id: String,
    pub intake_round: &'static str,
    pub referring_organisation: &'static str,
    pub planned_arrival: &'static str,
    pub planned_departure: &'static str,
    pub visa_status: &'static str,
    pub insurance_arranged: bool,
    pub confidentiality: &'static str,
}

impl NewStay {
    /// A restricted stay of defender `defender_id`, spring 2027.
    pub fn of(defender_id: &str) -> Self {
        NewStay {
            defender_id: defender_id.to_owned(),
            intake_round: "2027-spring",
            referring_organisation: "Justice & Peace",
            planned_arrival: "2027-03-01",
            planned_departure: "2027-06-01",
            visa_status: "to_apply",
            insurance_arranged: true,
            confidentiality: "restricted",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewInstitution {
    pub name: &'static str,
    pub kind: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasmus_code: Option<&'static str>,
    pub sister_city: bool,
}

impl NewInstitution {
    /// The city's own MBO college, with an Erasmus code.
    pub fn home() -> Self {
        NewInstitution {
            name: "ROC Amsterdam",
            kind: "mbo_college",
            country: "NL",
            city: "Amsterdam",
            erasmus_code: Some("NL AMSTERD07"),
            sister_city: false,
        }
    }

    /// A partner college in the sister city, without an Erasmus code.
    pub fn partner() -> Self {
        NewInstitution {
            name: "Escola Profissional",
            kind: "mbo_college",
            country: "PT",
            city: "Porto",
            erasmus_code: None,
            sister_city: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewParticipant {
    pub given_name: String,
    pub family_name: &'static str,
    pub date_of_birth: &'static str,
    pub email: String,
    pub education_level: &'static str,
    pub home_institution_id: String,
    pub field_of_study: &'static str,
    pub nationality: &'static str,
    pub fewer_opportunities: bool,
}

impl NewParticipant {
    /// An MBO 4 learner of institution `home`, called `given` de Vries.
    pub fn named(given: &str, home: &str) -> Self {
        NewParticipant {
            given_name: given.to_owned(),
            family_name: "de Vries",
            date_of_birth: "2007-05-01",
            email: format!("{}@student.example.nl", given.to_lowercase()),
            education_level: "mbo_4",
            home_institution_id: home.to_owned(),
            field_of_study: "Hospitality",
            nationality: "NL",
            fewer_opportunities: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPlacement {
    pub participant_id: String,
    pub direction: &'static str,
    pub sending_institution_id: String,
    pub receiving_institution_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<String>,
    pub kind: &'static str,
    pub planned_start: &'static str,
    pub planned_end: &'static str,
    pub funding_programme: &'static str,
}

impl NewPlacement {
    /// An outgoing traineeship of `participant` from `home` to `partner`,
    /// February to April 2027, with no agreement.
    pub fn outgoing(participant: &str, home: &str, partner: &str) -> Self {
        NewPlacement {
            participant_id: participant.to_owned(),
            direction: "outgoing",
            sending_institution_id: home.to_owned(),
            receiving_institution_id: partner.to_owned(),
            agreement_id: None,
            kind: "traineeship",
            planned_start: "2027-02-01",
            planned_end: "2027-04-30",
            funding_programme: "Erasmus+ KA121",
        }
    }
}
