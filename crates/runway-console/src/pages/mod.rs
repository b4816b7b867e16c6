//! One module per screen. Handlers call the API with the user's token and
//! render what it answers; forms show the API's errors next to the field
//! the error names (`param`, in the REST API's spelling).

pub mod catalog;
pub mod deployment;
pub mod deployment_form;
pub mod deployments;
pub mod live;
pub mod overview;
pub mod run;
pub mod runs;
pub mod sign_in;
pub mod transcript;

use maud::{Markup, html};
use runway_api::v1::{PageInfo, PageRequest};
use runway_gateway::ApiError;

/// An error the API gave for a form, shown beside the field it names, or
/// above the form when it names none of the form's fields.
#[derive(Debug, Default)]
pub struct FormErrors {
    pub param: Option<String>,
    pub message: Option<String>,
}

impl FormErrors {
    pub fn from_api(error: &ApiError) -> Self {
        FormErrors {
            param: error.param().map(str::to_string),
            message: Some(error.message().to_string()),
        }
    }

    pub fn field(param: &str, message: impl Into<String>) -> Self {
        FormErrors {
            param: Some(param.to_string()),
            message: Some(message.into()),
        }
    }

    /// The message for field `name`, if the error names it.
    pub fn on(&self, name: &str) -> Option<&str> {
        match &self.param {
            Some(param) if param == name => self.message.as_deref(),
            _ => None,
        }
    }

    /// The message when it names none of `fields`.
    pub fn general(&self, fields: &[&str]) -> Option<&str> {
        match &self.param {
            Some(param) if fields.contains(&param.as_str()) => None,
            _ => self.message.as_deref(),
        }
    }
}

/// A field's id in the page (its name, made safe for `id`).
fn field_id(name: &str) -> String {
    format!(
        "f-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    )
}

/// How one input looks.
pub struct Input<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub kind: &'a str,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl<'a> Input<'a> {
    pub fn text(name: &'a str, label: &'a str, value: &'a str) -> Self {
        Input {
            name,
            label,
            value,
            kind: "text",
            hint: None,
            required: false,
        }
    }

    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn number(mut self) -> Self {
        self.kind = "number";
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The labelled input, its hint, and the API's error when it names it.
    pub fn render(&self, errors: &FormErrors) -> Markup {
        let id = field_id(self.name);
        let error = errors.on(self.name);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let described = match (self.hint.is_some(), error.is_some()) {
            (true, true) => Some(format!("{hint_id} {error_id}")),
            (true, false) => Some(hint_id.clone()),
            (false, true) => Some(error_id.clone()),
            (false, false) => None,
        };
        html! {
            div.field {
                label for=(id) { (self.label) }
                @if let Some(hint) = self.hint { p.hint id=(hint_id) { (hint) } }
                @if self.kind == "textarea" {
                    textarea id=(id) name=(self.name) rows="3" required[self.required]
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[described.as_deref()] { (self.value) }
                } @else {
                    input id=(id) type=(self.kind) name=(self.name) value=(self.value) required[self.required]
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[described.as_deref()];
                }
                @if let Some(message) = error {
                    p.field-error id=(error_id) role="alert" { (message) }
                }
            }
        }
    }
}

/// A select of `(value, label)` options.
pub fn select(
    name: &str,
    label: &str,
    options: &[(String, String)],
    chosen: &str,
    errors: &FormErrors,
) -> Markup {
    let id = field_id(name);
    let error = errors.on(name);
    let error_id = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| error_id.as_str())] {
                @for (value, text) in options {
                    option value=(value) selected[value == chosen] { (text) }
                }
            }
            @if let Some(message) = error {
                p.field-error id=(error_id) role="alert" { (message) }
            }
        }
    }
}

/// What a read-only sign-in sees instead of a form that changes something:
/// why not, and a way back.
pub fn read_only_page(api: &crate::api::Api, title: &str, what: &str) -> Markup {
    let body = html! {
        p { "This sign-in's token has the " code { "read" } " scope: it may not " (what) ". "
            "Sign in with a " code { "write" } " or " code { "admin" } " token to do so." }
        p { a href="/deployments" { "Back to deployments" } }
    };
    crate::layout::page(&api.session, title, crate::layout::Nav::Deployments, body)
}

/// The hidden field every POST form carries.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A one-button form that POSTs to `action`.
pub fn action_button(action: &str, label: &str, csrf_token: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(csrf_token))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// Paging from the query string: `page`, the API's opaque `next_page`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Cursor {
    pub page: Option<String>,
}

impl Cursor {
    pub fn request(&self, limit: i32) -> PageRequest {
        PageRequest {
            limit: Some(limit),
            page: self.page.clone().filter(|s| !s.is_empty()),
            after_id: None,
            before_id: None,
        }
    }
}

/// "Newest" and "Older" links for a newest-first list; `query` is the rest
/// of the query string (the filters), already encoded.
pub fn pager(base: &str, query: &str, cursor: &Cursor, info: Option<&PageInfo>) -> Markup {
    let sep = if query.is_empty() { "" } else { "&" };
    let next = info
        .and_then(|i| i.next_page.as_deref())
        .filter(|_| info.is_some_and(|i| i.has_more));
    html! {
        nav.pager aria-label="Pages" {
            @if cursor.page.is_some() {
                a href=(format!("{base}?{query}")) { "← Newest" }
            }
            @if let Some(next) = next {
                a href=(format!("{base}?{query}{sep}page={}", encode(next))) rel="next" { "Older →" }
            }
        }
    }
}

/// `value` encoded for a query string.
pub fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
