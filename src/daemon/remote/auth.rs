//! Who may use the remote API: one-time pairing codes, bearer tokens
//! (`DEVICE_ID.SECRET`, kept as the secret's SHA-256 and compared in
//! constant time), and the limit on failed pairings per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::model::{hex, Scope};

/// Failed pairings one address may make in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Codes people may have to type: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LENGTH: usize = 10;

/// What `m device pair` asked for, waiting for the phone.
#[derive(Debug, Clone)]
pub struct PendingPairing {
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub expires: Instant,
}

/// The answer to a pairing attempt.
#[derive(Debug, PartialEq)]
pub enum PairingCheck {
    Paired(PairingGrant),
    /// Wrong, used or expired: all look alike to the caller.
    Refused,
    /// Too many failures from this address lately.
    Limited,
}

#[derive(Debug, PartialEq)]
pub struct PairingGrant {
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
}

#[derive(Default)]
pub struct Pairings {
    codes: Mutex<HashMap<String, PendingPairing>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl Pairings {
    /// A new one-time code for a device with `scopes`.
    pub fn issue(
        &self,
        name: Option<String>,
        scopes: Vec<Scope>,
        lifetime: Duration,
    ) -> (String, PendingPairing) {
        let code = random_code();
        let pending = PendingPairing {
            name,
            scopes,
            expires: Instant::now() + lifetime,
        };
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, p| p.expires > Instant::now());
        codes.insert(code.clone(), pending.clone());
        (code, pending)
    }

    /// Uses `code` (once) for a pairing from `from`.
    pub fn redeem(&self, code: &str, from: IpAddr) -> PairingCheck {
        let now = Instant::now();
        {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            let recent = failures.entry(from).or_default();
            recent.retain(|at| now.duration_since(*at) < FAILURE_WINDOW);
            if recent.len() >= MAX_FAILURES {
                return PairingCheck::Limited;
            }
        }
        let code = code.trim().to_ascii_uppercase();
        let found = {
            let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
            codes.remove(&code).filter(|p| p.expires > now)
        };
        match found {
            Some(pending) => PairingCheck::Paired(PairingGrant {
                name: pending.name,
                scopes: pending.scopes,
            }),
            None => {
                let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                failures.entry(from).or_default().push(now);
                PairingCheck::Refused
            }
        }
    }

    /// Makes every code expire now (tests of expiry).
    #[cfg(test)]
    fn age_all(&self) {
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        for pending in codes.values_mut() {
            pending.expires = Instant::now() - Duration::from_secs(1);
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source");
    bytes
}

fn random_code() -> String {
    random_bytes::<CODE_LENGTH>()
        .iter()
        .map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char)
        .collect()
}

/// A new token for device `id`, and the hash of its secret to keep.
pub fn new_token(id: &str) -> (String, String) {
    let secret = hex(&random_bytes::<32>());
    let hash = secret_hash(&secret);
    (format!("{id}.{secret}"), hash)
}

fn secret_hash(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// The device id a token names, and its secret.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.trim().split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Whether `secret` is the one whose hash was kept, in constant time.
pub fn secret_matches(secret: &str, kept_hash: &str) -> bool {
    let hash = secret_hash(secret);
    hash.as_bytes().ct_eq(kept_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MINUTES: Duration = Duration::from_secs(600);
    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_code_pairs_once() {
        let pairings = Pairings::default();
        let (code, _) = pairings.issue(Some("phone".into()), vec![Scope::Read], TEN_MINUTES);
        assert_eq!(code.len(), CODE_LENGTH);
        let granted = pairings.redeem(&code.to_lowercase(), HOME);
        assert_eq!(
            granted,
            PairingCheck::Paired(PairingGrant {
                name: Some("phone".into()),
                scopes: vec![Scope::Read]
            })
        );
        assert_eq!(pairings.redeem(&code, HOME), PairingCheck::Refused);
    }

    #[test]
    fn an_expired_code_is_refused() {
        let pairings = Pairings::default();
        let (code, _) = pairings.issue(None, vec![Scope::Read], TEN_MINUTES);
        pairings.age_all();
        assert_eq!(pairings.redeem(&code, HOME), PairingCheck::Refused);
    }

    #[test]
    fn five_failures_a_minute_limit_the_address_not_others() {
        let pairings = Pairings::default();
        let (code, _) = pairings.issue(None, vec![Scope::Read], TEN_MINUTES);
        for _ in 0..MAX_FAILURES {
            assert_eq!(pairings.redeem("WRONG", HOME), PairingCheck::Refused);
        }
        // Even the right code waits out the window.
        assert_eq!(pairings.redeem(&code, HOME), PairingCheck::Limited);
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(matches!(
            pairings.redeem(&code, other),
            PairingCheck::Paired(_)
        ));
    }

    #[test]
    fn tokens_match_only_their_own_secret() {
        let (token, hash) = new_token("dev1");
        let (id, secret) = split_token(&token).unwrap();
        assert_eq!(id, "dev1");
        assert!(secret_matches(secret, &hash));
        assert!(!secret_matches("0", &hash));
        assert!(split_token("nodot").is_none());
        assert!(split_token(".x").is_none());
    }
}
