//! Routing for the [server](super::server): [`Methods`], [`Rule`], [`Router`], and helpers that
//! split a request target.
//!
//! A [`Router`] is a matcher, not a dispatcher: [`Router::find`] returns the `Copy` value of the
//! route a request matches (an enum naming the page, typically), or a [`Miss`] that answers 404
//! or 405 with `Allow`. The application's [`Service`](super::server::Service) `match`es on the
//! value, so the compiler checks that every route is handled and no function pointers or trait
//! objects are stored (libevent's `evhttp_set_cb`, `evhttp_set_gencb` and
//! `evhttp_add_virtual_host`, in a shape that needs no allocation).

use super::Request;
pub use super::methods::Methods;
use super::server::Exchange;

/// The path of a request target: the origin-form target up to `?` or `#`; for an absolute-form
/// target (`http://host/path?q`, sent to proxies), the path after the authority (`/` if empty).
///
/// ```
/// use levent_core::http::route::path_of;
/// assert_eq!(path_of("/a/b?x=1"), "/a/b");
/// assert_eq!(path_of("http://example.com/a?x"), "/a");
/// assert_eq!(path_of("http://example.com"), "/");
/// assert_eq!(path_of("*"), "*");
/// ```
pub fn path_of(target: &str) -> &str {
    let t = match absolute_rest(target) {
        Some(rest) => match rest.find('/') {
            Some(i) => rest.get(i..).unwrap_or("/"),
            None => "/",
        },
        None => target,
    };
    let end = t.find(['?', '#']).unwrap_or(t.len());
    match t.get(..end) {
        Some("") | None => "/",
        Some(p) => p,
    }
}

/// The query of a request target, after `?` and before `#`, if there is one.
///
/// ```
/// use levent_core::http::route::query_of;
/// assert_eq!(query_of("/a?x=1&y"), Some("x=1&y"));
/// assert_eq!(query_of("/a"), None);
/// ```
pub fn query_of(target: &str) -> Option<&str> {
    let q = target.split_once('?')?.1;
    Some(q.split_once('#').map_or(q, |(q, _)| q))
}

/// `scheme://` stripped from an absolute-form target.
fn absolute_rest(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
    .then_some(rest)
}

/// The host a request is for, without the port: the authority of an absolute-form target, else
/// the `Host` field (RFC 9112 §3.2.2). `None` when neither names one.
///
/// ```
/// use levent_core::http::{route::host_of, Header, Limits, RequestParser};
/// let mut h = [Header::EMPTY; 4];
/// let mut p = RequestParser::new(Limits::DEFAULT);
/// let req = p.parse(b"GET / HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n", &mut h).unwrap().complete().unwrap();
/// assert_eq!(host_of(&req), Some("Example.com"));
/// ```
pub fn host_of<'b>(req: &Request<'b, '_>) -> Option<&'b str> {
    let authority = match absolute_rest(req.target()) {
        Some(rest) => rest.split(['/', '?', '#']).next().unwrap_or(""),
        None => core::str::from_utf8(req.header("host")?).ok()?,
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if authority.starts_with('[') {
        authority.split_once(']').map_or(authority, |(h, _)| h)
    } else {
        authority.split_once(':').map_or(authority, |(h, _)| h)
    };
    let host = host.strip_prefix('[').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// One route: which requests it takes, and the value [`Router::find`] returns for them.
#[derive(Clone, Copy, Debug)]
pub struct Rule<'r, R> {
    /// The virtual host: `None` for any host, `"example.com"` for that host exactly
    /// (case-insensitively), `"*.example.com"` for its subdomains.
    pub host: Option<&'r str>,
    /// The path, compared with [`path_of`] of the target.
    pub path: &'r str,
    /// Whether `path` is a prefix (`/static/` takes `/static/app.js`) rather than the whole path.
    pub prefix: bool,
    /// The methods it answers; others get 405 with `Allow`. A route that allows `GET` allows
    /// `HEAD` too (the server sends the head of the GET response).
    pub methods: Methods,
    /// What [`Router::find`] returns.
    pub value: R,
}

impl<'r, R> Rule<'r, R> {
    /// A route for exactly `path`, any host, GET (and HEAD) only.
    pub const fn exact(path: &'r str, value: R) -> Self {
        Rule {
            host: None,
            path,
            prefix: false,
            methods: Methods::GET,
            value,
        }
    }

    /// A route for every path starting with `path`, any host, GET (and HEAD) only.
    pub const fn prefix(path: &'r str, value: R) -> Self {
        Rule {
            host: None,
            path,
            prefix: true,
            methods: Methods::GET,
            value,
        }
    }

    /// The same route answering `methods` instead.
    pub const fn methods(mut self, methods: Methods) -> Self {
        self.methods = methods;
        self
    }

    /// The same route, for virtual host `pattern` only (see [`Rule::host`]).
    pub const fn on_host(mut self, pattern: &'r str) -> Self {
        self.host = Some(pattern);
        self
    }

    fn allows(&self, m: Methods) -> bool {
        let methods = if self.methods.contains(Methods::GET) {
            self.methods.union(Methods::HEAD)
        } else {
            self.methods
        };
        methods.contains(m)
    }

    fn host_matches(&self, host: Option<&str>) -> bool {
        match (self.host, host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(p), Some(h)) => match p.strip_prefix('*') {
                Some(suffix) => {
                    h.len() > suffix.len()
                        && h.get(h.len() - suffix.len()..)
                            .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
                }
                None => p.eq_ignore_ascii_case(h),
            },
        }
    }

    fn path_matches(&self, path: &str) -> bool {
        if self.prefix {
            path.starts_with(self.path)
        } else {
            path == self.path
        }
    }
}

/// Why no route took a request; [`Miss::respond`] answers it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Miss {
    /// No route has the path (on this host): 404.
    NotFound,
    /// Routes have the path but not the method: 405 with `Allow` listing these.
    MethodNotAllowed(Methods),
}

impl Miss {
    /// The status code: 404 or 405.
    pub const fn status(self) -> u16 {
        match self {
            Miss::NotFound => 404,
            Miss::MethodNotAllowed(_) => 405,
        }
    }

    /// Answer the request with 404, or 405 and `Allow`, and a short text body.
    pub fn respond(self, ex: &mut Exchange<'_>) {
        let mut allow = [0u8; 80];
        match self {
            Miss::NotFound => ex.respond(404, &[], b"Not Found\n"),
            Miss::MethodNotAllowed(m) => {
                let n = m.write_list(&mut allow).unwrap_or(0);
                let headers = [super::Header {
                    name: "Allow",
                    value: allow.get(..n).unwrap_or_default(),
                }];
                ex.respond(405, &headers, b"Method Not Allowed\n")
            }
        }
    }
}

/// Routes by virtual host, exact path and path prefix, with allowed methods and a fallback (the
/// generic handler). See the [module documentation](self).
///
/// Matching: routes for the request's host (by pattern) are tried before routes for any host;
/// within each group an exact path beats a prefix, and a longer prefix beats a shorter one; ties
/// go to the earlier route. Of the routes with the best path, the first that allows the method
/// wins; if none does, the answer is 405 with every method they allow. No path: the fallback,
/// else 404.
///
/// ```
/// use levent_core::http::route::{Methods, Miss, Router, Rule};
/// use levent_core::http::{Header, Limits, RequestParser};
///
/// #[derive(Clone, Copy, PartialEq, Debug)]
/// enum Page { Home, Echo, Static, Admin }
///
/// const ROUTES: &[Rule<'static, Page>] = &[
///     Rule::exact("/", Page::Home),
///     Rule::exact("/echo", Page::Echo).methods(Methods::POST),
///     Rule::prefix("/static/", Page::Static),
///     Rule::prefix("/", Page::Admin).on_host("admin.example.com"),
/// ];
/// let router = Router::new(ROUTES);
/// let find = |raw: &[u8]| {
///     let mut h = [Header::EMPTY; 8];
///     let mut p = RequestParser::new(Limits::DEFAULT);
///     router.find(&p.parse(raw, &mut h).unwrap().complete().unwrap())
/// };
/// assert_eq!(find(b"GET /static/a.css HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(Page::Static));
/// assert_eq!(find(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(Page::Home));
/// assert_eq!(find(b"GET / HTTP/1.1\r\nHost: admin.example.com\r\n\r\n"), Ok(Page::Admin));
/// assert_eq!(find(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"), Err(Miss::MethodNotAllowed(Methods::POST)));
/// assert_eq!(find(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"), Err(Miss::NotFound));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Router<'r, R> {
    routes: &'r [Rule<'r, R>],
    fallback: Option<R>,
}

impl<'r, R: Copy> Router<'r, R> {
    /// A router over `routes`, without a fallback.
    pub const fn new(routes: &'r [Rule<'r, R>]) -> Self {
        Router {
            routes,
            fallback: None,
        }
    }

    /// The same router, answering requests that no route's path matches with `value` (libevent's
    /// generic callback) instead of 404.
    pub const fn fallback(mut self, value: R) -> Self {
        self.fallback = Some(value);
        self
    }

    /// The value of the route `req` matches, or why none does.
    ///
    /// # Errors
    ///
    /// [`Miss::NotFound`] or [`Miss::MethodNotAllowed`].
    pub fn find(&self, req: &Request<'_, '_>) -> Result<R, Miss> {
        let path = path_of(req.target());
        let host = host_of(req);
        let method = Methods::of(req.method());
        for with_host in [true, false] {
            // Rank: exact paths above prefixes, longer prefixes above shorter ones.
            let rank = |r: &Rule<'r, R>| if r.prefix { r.path.len() } else { usize::MAX };
            let candidates = || {
                self.routes.iter().filter(move |r| {
                    r.host.is_some() == with_host && r.host_matches(host) && r.path_matches(path)
                })
            };
            let Some(best) = candidates().map(rank).max() else {
                continue;
            };
            let mut allowed = Methods::NONE;
            for r in candidates().filter(|r| rank(r) == best) {
                if r.allows(method) {
                    return Ok(r.value);
                }
                allowed = allowed.union(r.methods);
                if r.methods.contains(Methods::GET) {
                    allowed = allowed.union(Methods::HEAD);
                }
            }
            return Err(Miss::MethodNotAllowed(allowed));
        }
        self.fallback.ok_or(Miss::NotFound)
    }
}
