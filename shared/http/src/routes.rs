//! The route tables the routers are built from. A route is added only
//! through [`Routes::at`], which takes a handler's `utoipa_axum::routes!`
//! registration: axum serves it and the OpenAPI document describes it from
//! that one annotation. [`Routes::at`] records each `(path, method)` as it
//! hands it to axum, so [`crate::served_routes`] lists exactly what is
//! served: a test holds it equal to the serialized document's operations.

use axum::Router;
use http::Method;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::PathItem;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

pub struct Routes<S> {
    router: OpenApiRouter<S>,
    served: Vec<(String, Method)>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self { router: OpenApiRouter::new(), served: Vec::new() }
    }

    /// Serves a handler annotated with `#[utoipa::path]` at its path and
    /// methods, and adds its operation to the document (axum merges the
    /// methods of one path).
    pub fn at(mut self, route: UtoipaMethodRouter<S>) -> Self {
        for (path, item) in route.1.paths.iter() {
            self.served.extend(methods(item).into_iter().map(|m| (path.clone(), m)));
        }
        self.router = self.router.routes(route);
        self
    }

    /// What is served, and its documentation.
    pub fn into_parts(self) -> (Vec<(String, Method)>, OpenApi) {
        (self.served, self.router.into_openapi())
    }

    pub fn into_router(self) -> Router<S> {
        self.router.split_for_parts().0
    }
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

fn methods(item: &PathItem) -> Vec<Method> {
    [
        (item.get.is_some(), Method::GET),
        (item.put.is_some(), Method::PUT),
        (item.post.is_some(), Method::POST),
        (item.delete.is_some(), Method::DELETE),
        (item.options.is_some(), Method::OPTIONS),
        (item.head.is_some(), Method::HEAD),
        (item.patch.is_some(), Method::PATCH),
        (item.trace.is_some(), Method::TRACE),
    ]
    .into_iter()
    .filter_map(|(present, method)| present.then_some(method))
    .collect()
}
