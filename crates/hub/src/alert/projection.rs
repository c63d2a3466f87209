//! The seam between the `fs_projected_full` rule and the trend fit (`crate::trend`): the
//! engine asks for a filesystem's projection at most every `projection_every` per mount, so
//! the fit (a regression over a week of history) may be costly.

use super::builtin::FsProjection;
use crate::store::Host;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so the trait stays object-safe for `Arc<dyn Projection>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Projects when a host's filesystem fills.
pub trait Projection: Send + Sync + 'static {
    /// `host`'s filesystem at `mount` as of `now`; `None` when there is too little history
    /// to say.
    fn filesystem<'a>(
        &'a self,
        host: &'a Host,
        mount: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Option<FsProjection>>;
}

/// Until the trend fit is wired in: no projections, so `fs_projected_full` never fires.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProjection;

impl Projection for NoProjection {
    fn filesystem<'a>(
        &'a self,
        _host: &'a Host,
        _mount: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Option<FsProjection>> {
        Box::pin(async { None })
    }
}
