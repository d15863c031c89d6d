//! What a login asks for: [`LoginRequest`] and the [`Device`] it came from.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::store::Device;

/// What a login asks for: the user, remember-me, application claims and the device.
///
/// # Examples
///
/// ```
/// use tollgate::session::LoginRequest;
/// use tollgate::store::Device;
/// let request = LoginRequest::new("alice")
///     .with_remember_me(true)
///     .with_claim("role", "admin")?
///     .with_device(Device::new(Some("curl/8".into()), Some("203.0.113.7".into())));
/// assert!(request.remember_me());
/// assert!(LoginRequest::new("alice").with_claim("sid", "x").is_err());
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub(crate) sub: String,
    pub(crate) remember_me: bool,
    pub(crate) claims: Map<String, Value>,
    pub(crate) client_id: Option<String>,
    pub(crate) device: Device,
}

impl LoginRequest {
    /// A login for `sub`, not remembered, without claims or device.
    pub fn new(sub: impl Into<String>) -> Self {
        LoginRequest {
            sub: sub.into(),
            remember_me: false,
            claims: Map::new(),
            client_id: None,
            device: Device::default(),
        }
    }

    /// Remember the login (the long, sliding refresh window) or not (the short one). Defaults
    /// to `false`.
    pub fn with_remember_me(mut self, remember_me: bool) -> Self {
        self.remember_me = remember_me;
        self
    }

    /// Adds an application claim to every access token of the session.
    ///
    /// # Errors
    ///
    /// `usage` for a registered claim name (`sub`, `sid`, `exp`, …) or a value that does not
    /// serialise.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Serialize) -> Result<Self> {
        crate::claims::insert_claim(&mut self.claims, name.into(), value)?;
        Ok(self)
    }

    /// Adds every member of a value that serialises to a JSON object.
    ///
    /// # Errors
    ///
    /// `usage` when it is not an object or uses a registered claim name.
    pub fn with_claims(mut self, claims: &impl Serialize) -> Result<Self> {
        crate::claims::insert_claims(&mut self.claims, claims)?;
        Ok(self)
    }

    /// Records the trusted caller (client id) that starts the session: kept in the session's
    /// record ([`SessionRecord::client_id`](crate::store::SessionRecord::client_id)) and
    /// carried as the `client_id` claim (RFC 9068 §2.2) of every access token of the session,
    /// where it replaces an application claim of that name, so that introspection reports it.
    /// `POST /session/login` sets it to the authenticated caller and refuses a `client_id`
    /// among the caller's claims.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Records where the login came from.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The subject.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// Whether the login is remembered.
    pub fn remember_me(&self) -> bool {
        self.remember_me
    }
}
