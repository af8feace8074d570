//! The admin's pages (the first client the operator registered): every
//! client with disable/enable, and the background queues' health with
//! redrive of dead letters. Other clients get 403 from the use cases.

use askama::Template;
use axum::extract::{Path, State};
use secure2fa_core::ids::ClientId;
use secure2fa_core::ports::Redrive;

use crate::Ctx;
use crate::page::{Layout, PageError, PageResult, ok};
use crate::pages::auth::MessagePage;
use crate::pages::time::date_time;
use crate::session::Me;

struct ClientRow {
    id: String,
    email: String,
    is_admin: bool,
    confirmed: bool,
    disabled: bool,
    created_at: String,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage {
    layout: Layout,
    clients: Vec<ClientRow>,
}

pub(crate) async fn clients(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let mut rows = Vec::new();
    for c in ctx.manage.list_clients(&me.principal).await? {
        rows.push(ClientRow {
            id: c.id.to_string(),
            email: ctx.manage.client_email(&c).await?,
            is_admin: c.is_admin,
            confirmed: c.confirmed_at.is_some(),
            disabled: c.disabled,
            created_at: date_time(c.created_at),
        });
    }
    Ok(ok(&ClientsPage { layout: Layout::signed_in("Clients", "admin", &me), clients: rows }))
}

async fn set_disabled(ctx: &Ctx, me: &Me, id: &str, disabled: bool) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| PageError::not_found("client"))?;
    ctx.manage.set_client_disabled(&me.principal, id, disabled).await?;
    Ok(crate::page::see_other("/admin/clients"))
}

pub(crate) async fn disable(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    set_disabled(&ctx, &me, &id, true).await
}

pub(crate) async fn enable(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    set_disabled(&ctx, &me, &id, false).await
}

struct QueueRow {
    queue: String,
    ready: u64,
    in_flight: u64,
    delayed: u64,
    dead_letters: u64,
}

#[derive(Template)]
#[template(path = "admin_queues.html")]
struct QueuesPage {
    layout: Layout,
    queues: Vec<QueueRow>,
}

pub(crate) async fn queues(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let queues = ctx
        .manage
        .queue_health(&me.principal)
        .await?
        .into_iter()
        .map(|q| QueueRow {
            queue: q.queue,
            ready: q.ready,
            in_flight: q.in_flight,
            delayed: q.delayed,
            dead_letters: q.dead_letters,
        })
        .collect();
    Ok(ok(&QueuesPage { layout: Layout::signed_in("Queues", "admin", &me), queues }))
}

pub(crate) async fn redrive(State(ctx): State<Ctx>, me: Me, Path(queue): Path<String>) -> PageResult {
    let said = match ctx.manage.redrive(&me.principal, &queue).await? {
        Redrive::Moved(n) => format!("{n} dead letter(s) of the {queue} queue moved back to it."),
        Redrive::Started(task) => format!("A move task of the {queue} queue's dead letters started ({task})."),
    };
    Ok(ok(&MessagePage {
        layout: Layout::signed_in("Redrive", "admin", &me),
        message: said,
        link: Some(("/admin/queues".into(), "Back to the queues".into())),
    }))
}
