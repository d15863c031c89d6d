//! [`require`]: a layer that lets only authenticated requests through.

use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::extract::Request;
use ::axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::{Rejection, authenticate};
use crate::gate::Gate;
use crate::store::RevocationStore;
use crate::token::Verified;

/// A layer that verifies every request's access token before the inner service sees it.
///
/// A request without a valid token gets the [`Rejection`] response (401, 503 or 400) and never
/// reaches the routes. An accepted request carries the [`Verified`] token (application claims
/// as a JSON object) in its extensions: take it with `Extension<Verified>`, or with
/// [`Authenticated<C>`](super::Authenticated), which reuses it instead of verifying again.
///
/// Use it with [`Router::route_layer`](::axum::Router::route_layer) so that unknown paths still
/// answer 404 rather than 401.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use axum::{Extension, Router, routing::get};
/// use tollgate::{Gate, Verified};
///
/// fn admin(gate: Arc<Gate>) -> Router {
///     Router::new()
///         .route("/admin", get(|Extension(token): Extension<Verified>| async move { token.claims.sub.unwrap_or_default() }))
///         .route_layer(tollgate::axum::require(gate))
/// }
/// ```
pub fn require<S>(gate: Arc<Gate<S>>) -> RequireLayer<S> {
    RequireLayer { gate }
}

/// The layer returned by [`require`].
pub struct RequireLayer<S> {
    gate: Arc<Gate<S>>,
}

impl<S> Clone for RequireLayer<S> {
    fn clone(&self) -> Self {
        RequireLayer {
            gate: self.gate.clone(),
        }
    }
}

impl<S> std::fmt::Debug for RequireLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireLayer").finish_non_exhaustive()
    }
}

impl<I, S> Layer<I> for RequireLayer<S> {
    type Service = Require<I, S>;

    fn layer(&self, inner: I) -> Require<I, S> {
        Require {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service of [`RequireLayer`].
pub struct Require<I, S> {
    inner: I,
    gate: Arc<Gate<S>>,
}

impl<I: Clone, S> Clone for Require<I, S> {
    fn clone(&self) -> Self {
        Require {
            inner: self.inner.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<I, S> std::fmt::Debug for Require<I, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Require").finish_non_exhaustive()
    }
}

impl<I, S> Service<Request> for Require<I, S>
where
    I: Service<Request, Response = Response> + Clone + Send + 'static,
    I::Future: Send + 'static,
    S: RevocationStore + 'static,
{
    type Response = Response;
    type Error = I::Error;
    type Future = BoxFuture<'static, Result<Response, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), I::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's usual dance).
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let gate = self.gate.clone();
        Box::pin(async move {
            let verified = authenticate::<Map<String, Value>, S>(&gate, request.headers()).await;
            match verified {
                Ok(Some(verified)) => {
                    request.extensions_mut().insert::<Verified>(verified);
                    inner.call(request).await
                }
                Ok(None) => Ok(Rejection::missing().into_response()),
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
