//! What a login asks for: [`LoginRequest`] and the [`Device`] it came from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Result;

const MAX_USER_AGENT: usize = 256;
const MAX_IP: usize = 64;

/// Where a login came from: shown in the session list, never used for a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The client's user agent (at most 256 characters are kept).
    pub user_agent: Option<String>,
    /// The client's IP address, as the application saw it (at most 64 characters are kept).
    pub ip: Option<String>,
}

impl Device {
    /// A device with a user agent and an IP, either optional.
    pub fn new(user_agent: Option<String>, ip: Option<String>) -> Self {
        Device { user_agent, ip }
    }

    pub(crate) fn truncated(&self) -> Device {
        let cut =
            |s: &Option<String>, max: usize| s.as_ref().map(|s| s.chars().take(max).collect());
        Device {
            user_agent: cut(&self.user_agent, MAX_USER_AGENT),
            ip: cut(&self.ip, MAX_IP),
        }
    }
}

/// What a login asks for: the user, remember-me, application claims and the device.
///
/// # Examples
///
/// ```
/// use tollgate::session::{Device, LoginRequest};
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
    pub(crate) device: Device,
}

impl LoginRequest {
    /// A login for `sub`, not remembered, without claims or device.
    pub fn new(sub: impl Into<String>) -> Self {
        LoginRequest {
            sub: sub.into(),
            remember_me: false,
            claims: Map::new(),
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
