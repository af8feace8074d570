//! Home: the logs, filterable by project, level and period, a page at a
//! time, under three charts of the period (codes sent per day, approval
//! rate per day, delivery failures by provider).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use secure2fa_core::UnixTime;
use secure2fa_core::ids::{LogId, ProjectId};
use secure2fa_core::model::{LogEntry, LogFilter, LogLevel, ProviderKind};
use serde::Deserialize;

use crate::Ctx;
use crate::chart::{BarChart, bar_chart};
use crate::page::{Choice, Layout, PageResult, choices, ok};
use crate::pages::time::{date, date_time};
use crate::session::Me;

/// Entries per page of the table.
const PAGE_SIZE: usize = 50;
/// The charts read at most this many pages of the period's log (newest
/// first, 200 entries a page at most): each page is one store query per
/// log partition, so a page load's cost stays bounded whatever the logs hold.
pub(crate) const CHART_PAGES: usize = 5;

#[derive(Deserialize, Default)]
pub(crate) struct LogsQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    period: String,
    before: Option<String>,
}

struct Row {
    time: String,
    level: &'static str,
    event: String,
    project: String,
    user_ref: String,
    message: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    projects: Vec<Choice>,
    levels: Vec<Choice>,
    periods: Vec<Choice>,
    rows: Vec<Row>,
    next_page: Option<String>,
    /// Rendered SVG figures (escaped by their own template).
    charts: Vec<String>,
    chart_cap_reached: bool,
}

const PERIODS: [(&str, &str, i64); 3] =
    [("1", "Last 24 hours", 1), ("7", "Last 7 days", 7), ("30", "Last 30 days", 30)];

pub(crate) async fn show(State(ctx): State<Ctx>, me: Me, Query(q): Query<LogsQuery>) -> PageResult {
    let now = ctx.accounts.clock.now();
    let days = PERIODS.iter().find(|p| p.0 == q.period).map_or(7, |p| p.2);
    let since = now - days * 86_400;
    let projects = ctx.manage.list_projects(&me.principal, me.client.id).await?;
    let project: Option<ProjectId> = q.project.parse().ok().filter(|id| projects.iter().any(|p| p.id == *id));
    let level = LogLevel::parse(&q.level);
    let title_of = |id: Option<ProjectId>| {
        id.and_then(|id| projects.iter().find(|p| p.id == id)).map(|p| p.title.clone()).unwrap_or_default()
    };

    let filter = LogFilter {
        project_id: project,
        user_ref: None,
        level,
        before: q.before.as_deref().and_then(|b| b.parse::<LogId>().ok()),
        limit: PAGE_SIZE,
    };
    let page = ctx.manage.list_logs(&me.principal, me.client.id, filter).await?;
    let in_period: Vec<&LogEntry> = page.entries.iter().filter(|e| e.created_at >= since).collect();
    let more = in_period.len() == page.entries.len() && page.next_before.is_some();
    let next_page = more.then(|| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("project", &q.project)
            .append_pair("level", &q.level)
            .append_pair("period", &days.to_string());
        query.append_pair("before", &page.next_before.map(|b| b.to_string()).unwrap_or_default());
        format!("/?{}", query.finish())
    });
    let rows = in_period
        .iter()
        .map(|e| Row {
            time: date_time(e.created_at),
            level: e.level.as_str(),
            event: e.event.clone(),
            project: title_of(e.project_id),
            user_ref: e.user_ref.as_ref().map(|u| u.as_str().chars().take(12).collect()).unwrap_or_default(),
            message: e.message.clone(),
        })
        .collect();

    let (charts, chart_cap_reached) = charts(&ctx, &me, project, since, now, days).await?;
    let mut project_choices =
        vec![Choice { value: String::new(), label: "All projects".into(), selected: project.is_none() }];
    let selected = project.map(|p| p.to_string()).unwrap_or_default();
    project_choices.extend(choices(&projects, &selected, |p| p.id.to_string(), |p| p.title.clone()));
    let mut levels = vec![Choice { value: String::new(), label: "All levels".into(), selected: level.is_none() }];
    levels.extend(
        [LogLevel::Info, LogLevel::Success, LogLevel::Warning, LogLevel::Danger].into_iter().map(|l| Choice {
            value: l.as_str().into(),
            label: l.as_str().into(),
            selected: Some(l) == level,
        }),
    );
    let periods = PERIODS
        .iter()
        .map(|(v, label, d)| Choice { value: (*v).into(), label: (*label).into(), selected: *d == days })
        .collect();
    Ok(ok(&HomePage {
        layout: Layout::signed_in("Logs", "logs", &me),
        projects: project_choices,
        levels,
        periods,
        rows,
        next_page,
        charts: charts.iter().map(|c| c.render().unwrap_or_default()).collect(),
        chart_cap_reached,
    }))
}

/// The period's charts, from its newest [`CHART_PAGES`] pages of log
/// entries; `true` when the period holds more (the charts then start later).
async fn charts(
    ctx: &Ctx,
    me: &Me,
    project: Option<ProjectId>,
    since: UnixTime,
    now: UnixTime,
    days: i64,
) -> Result<(Vec<BarChart>, bool), crate::page::PageError> {
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut before = None;
    let mut capped = false;
    for read in 1..=CHART_PAGES {
        let filter = LogFilter { project_id: project, user_ref: None, level: None, before, limit: 200 };
        let page = ctx.manage.list_logs(&me.principal, me.client.id, filter).await?;
        let reached_start = page.entries.iter().any(|e| e.created_at < since);
        entries.extend(page.entries.into_iter().filter(|e| e.created_at >= since));
        match page.next_before {
            Some(b) if !reached_start => {
                capped = read == CHART_PAGES;
                before = Some(b);
            }
            _ => break,
        }
    }
    Ok((draw(&entries, since, now, days), capped))
}

/// Codes sent and approved per day, and failures per provider, drawn.
fn draw(entries: &[LogEntry], since: UnixTime, now: UnixTime, days: i64) -> Vec<BarChart> {
    let first_day = since.div_euclid(86_400) + i64::from(days > 1);
    let last_day = now.div_euclid(86_400);
    let mut sent: BTreeMap<i64, f64> = (first_day..=last_day).map(|d| (d, 0.0)).collect();
    // The period's first, partial day is not drawn (7 days: 7 bars).
    let entries = entries.iter().filter(|e| e.created_at.div_euclid(86_400) >= first_day);
    let mut approved = sent.clone();
    let mut failures: BTreeMap<String, f64> = BTreeMap::new();
    for e in entries {
        let day = e.created_at.div_euclid(86_400);
        match e.event.as_str() {
            "otp.generated" => *sent.entry(day).or_default() += 1.0,
            "otp.approved" => *approved.entry(day).or_default() += 1.0,
            "delivery.failed" => *failures.entry(failed_provider(&e.message)).or_default() += 1.0,
            _ => {}
        }
    }
    let label = |d: i64| date(d * 86_400)[5..].to_owned();
    let per_day: Vec<(String, f64)> = sent.iter().map(|(d, n)| (label(*d), *n)).collect();
    let rate: Vec<(String, f64)> = sent
        .iter()
        .map(|(d, n)| {
            let ok = approved.get(d).copied().unwrap_or_default();
            (label(*d), if *n > 0.0 { (ok / n * 100.0).min(100.0) } else { 0.0 })
        })
        .collect();
    let failures: Vec<(String, f64)> = failures.into_iter().collect();
    vec![
        bar_chart("chart-sent", "Codes sent per day", &per_day, false),
        bar_chart("chart-approval", "Approval rate per day", &rate, true),
        bar_chart("chart-failures", "Delivery failures by provider", &failures, false),
    ]
}

/// The provider a `delivery.failed` entry names ("Delivery via twilio
/// after 3 attempt(s): …"), or `other`.
fn failed_provider(message: &str) -> String {
    message
        .strip_prefix("Delivery via ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(ProviderKind::parse)
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure2fa_core::ids::ClientId;

    fn entry(event: &str, at: UnixTime, message: &str) -> LogEntry {
        LogEntry {
            id: LogId::generate(),
            client_id: ClientId::generate(),
            project_id: None,
            user_ref: None,
            verification_id: None,
            level: LogLevel::Info,
            event: event.into(),
            message: message.into(),
            created_at: at,
        }
    }

    #[test]
    fn charts_count_codes_approvals_and_failures_per_provider() {
        let now = 20 * 86_400 + 3_600;
        let entries = vec![
            entry("otp.generated", now - 10, ""),
            entry("otp.generated", now - 20, ""),
            entry("otp.approved", now - 5, ""),
            entry("otp.generated", now - 86_400, ""),
            // On the period's first, partial day: not drawn.
            entry("otp.generated", now - 7 * 86_400 + 60, ""),
            entry("delivery.failed", now - 30, "Delivery via twilio after 3 attempt(s): 500"),
            entry("delivery.failed", now - 31, "Delivery via the fallback failed: its channel no longer exists"),
        ];
        let charts = draw(&entries, now - 7 * 86_400, now, 7);
        let sent = &charts[0].bars;
        assert_eq!(sent.len(), 7);
        assert_eq!((sent[6].value.as_str(), sent[5].value.as_str()), ("2", "1"));
        assert_eq!(charts[1].bars[6].value, "50%");
        let failures: Vec<_> = charts[2].bars.iter().map(|b| (b.label.as_str(), b.value.as_str())).collect();
        assert_eq!(failures, [("other", "1"), ("twilio", "1")]);
    }
}
