//! Participants: learners' personal data, every read audited.

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};
use uuid::Uuid;

use super::{
    care,
    model::{name_key, EducationLevel},
    participant_changes, store,
    views::{
        NewParticipant, Participant, ParticipantCare, ParticipantList, ParticipantSearch,
        ParticipantSearchResult, ParticipantUpdate,
    },
};
use crate::{
    accounts::access::Caller,
    audit::{self, Event},
    entities::participants,
    http::etag,
    http::{
        body::JsonBody,
        pagination::PageRequest,
        problem::{ApiError, ApiResult},
        Tag,
    },
    AppState,
};

crate::created_response!(ParticipantCreated, Participant, "participant");

#[derive(ApiResponse)]
pub enum ParticipantResponse {
    /// The participant.
    #[oai(status = 200)]
    Ok(Json<Participant>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum ParticipantCareResponse {
    /// The participant's duty-of-care record; its ETag is the participant's
    /// version.
    #[oai(status = 200)]
    Ok(Json<ParticipantCare>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum ParticipantSearchResponse {
    /// Matching participants.
    #[oai(status = 200)]
    Ok(Json<ParticipantSearchResult>),
}

pub(crate) fn participant_view(m: participants::Model) -> Result<Participant, ApiError> {
    Ok(Participant {
        id: m.id,
        given_name: m.given_name,
        family_name: m.family_name,
        date_of_birth: m.date_of_birth,
        email: m.email,
        education_level: EducationLevel::stored(
            &m.education_level,
            "participants.education_level",
        )?,
        home_institution_id: m.home_institution_id,
        field_of_study: m.field_of_study,
        nationality: m.nationality,
        fewer_opportunities: m.fewer_opportunities,
        created_at: m.created_at.into(),
        updated_at: m.updated_at.into(),
        version: m.version,
    })
}

/// A participant PATCH's body, parsed: every problem at once.
async fn audited_read(state: &AppState, caller: &Caller, id: Option<Uuid>) -> Result<(), ApiError> {
    let mut event = Event::new("read", 200).fields(vec!["participant"]);
    if let Some(id) = id {
        event = event.on("participant", id);
    }
    audit::record_alone(&state.audit, state.clock.now(), &caller.audit, event).await?;
    Ok(())
}

pub struct ParticipantsApi;

#[OpenApi(tag = "Tag::Exchange")]
impl ParticipantsApi {
    /// List participants, in creation order (audited).
    #[oai(
        path = "/participants",
        method = "get",
        operation_id = "listParticipants"
    )]
    async fn list_participants(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        req: &Request,
        #[oai(name = "educationLevel")] education_level: Query<Option<EducationLevel>>,
        #[oai(name = "homeInstitutionId")] home_institution_id: Query<Option<Uuid>>,
        #[oai(name = "fewerOpportunities")] fewer_opportunities: Query<Option<bool>>,
        /// Page size, 1 to 200.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next` cursor of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<ParticipantList> {
        let state = *state;
        let page = PageRequest::<Uuid>::parse(limit.0, cursor.0.as_deref())?;
        let filter = store::ParticipantFilter {
            education_level: education_level.0,
            home_institution: home_institution_id.0,
            fewer_opportunities: fewer_opportunities.0,
        };
        let rows =
            store::list_participants(&state.db, &filter, page.after, page.fetch_limit()).await?;
        let rows = page.cut(rows, |r| r.id)?;
        audited_read(state, &caller, None).await?;
        Ok(ParticipantList::page(
            rows.try_map(participant_view)?,
            &state.config.public_url,
            req.uri(),
        ))
    }

    /// Register a participant.
    #[oai(
        path = "/participants",
        method = "post",
        operation_id = "createParticipant"
    )]
    async fn create_participant(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<NewParticipant>,
    ) -> ApiResult<ParticipantCreated> {
        let created = participant_changes::register(*state, &caller, &body).await?;
        let path = format!("/participants/{}", created.id);
        let version = created.version;
        let view = participant_view(created)?;
        Ok(ParticipantCreated::at(
            view,
            &state.config.public_url,
            &path,
            version,
        ))
    }

    /// Show a participant (audited).
    #[oai(
        path = "/participants/:id",
        method = "get",
        operation_id = "getParticipant"
    )]
    async fn get_participant(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<ParticipantResponse> {
        let m = store::find_participant(&state.db, id.0)
            .await?
            .ok_or_else(ApiError::not_found)?;
        audited_read(&state, &caller, Some(m.id)).await?;
        let tag = etag(m.version);
        Ok(ParticipantResponse::Ok(Json(participant_view(m)?), tag))
    }

    /// Change a participant (needs `If-Match`).
    #[oai(
        path = "/participants/:id",
        method = "patch",
        operation_id = "updateParticipant"
    )]
    async fn update_participant(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<ParticipantUpdate>,
    ) -> ApiResult<ParticipantResponse> {
        let update = participant_changes::parse_update(&body)?;
        let if_match = if_match.0.as_deref();
        let updated = participant_changes::update(*state, &caller, id.0, if_match, update).await?;
        let tag = etag(updated.version);
        Ok(ParticipantResponse::Ok(
            Json(participant_view(updated)?),
            tag,
        ))
    }

    /// Show a participant's duty-of-care record (audited).
    #[oai(
        path = "/participants/:id/care",
        method = "get",
        operation_id = "getParticipantCare"
    )]
    async fn get_care(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> ApiResult<ParticipantCareResponse> {
        let (record, version) = care::read(*state, &caller, id.0).await?;
        Ok(ParticipantCareResponse::Ok(Json(record), etag(version)))
    }

    /// Replace a participant's duty-of-care record (needs `If-Match`: the
    /// participant's ETag). It is sealed under the participant's own key.
    #[oai(
        path = "/participants/:id/care",
        method = "put",
        operation_id = "replaceParticipantCare"
    )]
    async fn replace_care(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// The ETag of the participant's version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<ParticipantCare>,
    ) -> ApiResult<ParticipantCareResponse> {
        let record = care::check(&body).map_err(ApiError::invalid)?;
        let if_match = if_match.0.as_deref();
        let (record, version) = care::replace(*state, &caller, id.0, if_match, record).await?;
        Ok(ParticipantCareResponse::Ok(Json(record), etag(version)))
    }

    /// Find participants by name: in the body, never in a URL; exact after
    /// Unicode normalisation and case folding (audited).
    #[oai(
        path = "/participants/searches",
        method = "post",
        operation_id = "searchParticipants"
    )]
    async fn search_participants(
        &self,
        state: Data<&AppState>,
        caller: Data<&Caller>,
        body: JsonBody<ParticipantSearch>,
    ) -> ApiResult<ParticipantSearchResponse> {
        let state = *state;
        let key = name_key(&body.given_name, &body.family_name);
        let rows = store::participants_named(&state.db, key, 50).await?;
        audit::record_alone(
            &state.audit,
            state.clock.now(),
            &caller.audit,
            Event::new("participant.searched", 200),
        )
        .await?;
        Ok(ParticipantSearchResponse::Ok(Json(
            ParticipantSearchResult {
                items: rows
                    .into_iter()
                    .map(participant_view)
                    .collect::<Result<_, _>>()?,
            },
        )))
    }
}
