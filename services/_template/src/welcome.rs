//! A consumer: every new organisation gets a welcome note. The consumer runner records the
//! event id in the same transaction (a redelivered event is skipped) and scopes the
//! transaction to the event's organisation.
use kit::{
    contracts::events::{Envelope, v1},
    events::{Handler, HandlerError},
    store::Tx,
};
use uuid::Uuid;

pub(crate) struct Welcome;

#[async_trait::async_trait]
impl Handler for Welcome {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.event_type != "organization_created" {
            return Ok(());
        }
        let created: v1::OrganizationCreated = event.decode()?;
        let org: Uuid = created
            .organization_id
            .parse()
            .map_err(|_| HandlerError::failed("organization_id is not a UUID"))?;
        sqlx::query(
            "INSERT INTO notes (id, organization_id, title, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT ON CONSTRAINT notes_title_unique DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(org)
        .bind("Welcome")
        .bind(format!("Notes of {} start here.", created.name))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
