//! The double without a socket: a `tower` service handing kube's requests straight to the
//! same [`server::handle`] the HTTP front end uses.
//!
//! Everything runs as tasks on the caller's Tokio runtime (kube's client buffer, the handler,
//! watch streams), with no thread and no I/O driver involved, so under tokio's paused time
//! (`tokio::time::pause()`, `#[tokio::test(start_paused = true)]`) the clock auto-advances
//! exactly when every task, the "API server" included, is idle. `run --simulate` relies on it.

use crate::server::{self, Body, Shared};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A `tower::Service` answering kube's requests from the shared store.
#[derive(Clone)]
pub(crate) struct InProcess {
    pub shared: Arc<Shared>,
}

impl tower_service::Service<Request<kube::client::Body>> for InProcess {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(server::handle(shared, req).await) })
    }
}
