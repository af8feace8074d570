//! The route tables the routers are built from. A route is added only
//! through [`Routes::at`], which registers it with axum and records it, so
//! [`crate::served_routes`] lists exactly what is served: a test holds it
//! equal to the OpenAPI document's operations.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};
use http::Method;

pub struct Routes<S> {
    router: Router<S>,
    served: Vec<(&'static str, Method)>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self { router: Router::new(), served: Vec::new() }
    }

    /// Serves `method path` with `handler` (axum merges the methods of one path).
    pub fn at<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.served.push((path, method));
        self
    }

    pub fn served(&self) -> &[(&'static str, Method)] {
        &self.served
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}
