//! The viewer (`ctx.user`), points (`ctx.points`), the script's own store (`ctx.store`) and the
//! shared cache (`ctx.cache`).

use rhai::Engine;
use rhai::plugin::*;

use super::{Ctx, ScriptUser};

/// `ctx.points`.
#[derive(Clone)]
pub struct PointsApi(pub Ctx);
/// `ctx.store`.
#[derive(Clone)]
pub struct StoreApi(pub Ctx);
/// `ctx.cache`.
#[derive(Clone)]
pub struct CacheApi(pub Ctx);

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ScriptUser>("User");
    engine.register_type_with_name::<PointsApi>("Points");
    engine.register_type_with_name::<StoreApi>("Store");
    engine.register_type_with_name::<CacheApi>("Cache");
    engine.register_global_module(exported_module!(data_api).into());
}

/// Longest key in a store or the cache.
const MAX_KEY: usize = 200;

fn key_ok(key: &str) -> Result<(), Box<EvalAltResult>> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(format!("a key must be 1 to {MAX_KEY} bytes long").into());
    }
    Ok(())
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod data_api {
    use rhai::INT;
    use std::time::Duration;

    use rhai::{Array, Map};

    use super::{CacheApi, PointsApi, StoreApi};
    use crate::event::{Permission, Roles};
    use crate::scripting::api::{
        Ctx, MAX_CACHE_SECS, ScriptUser, amount_ok, from_json, resolve_user, to_json,
    };

    // ---- the viewer ----

    #[rhai_fn(get = "id", pure)]
    pub fn user_id(u: &mut ScriptUser) -> String {
        u.data.id.to_string()
    }
    #[rhai_fn(get = "login", pure)]
    pub fn user_login(u: &mut ScriptUser) -> String {
        u.data.login.to_string()
    }
    #[rhai_fn(get = "name", pure)]
    pub fn user_name(u: &mut ScriptUser) -> String {
        u.data.name.to_string()
    }
    #[rhai_fn(get = "roles", pure)]
    pub fn user_roles(u: &mut ScriptUser) -> Array {
        u.data
            .roles
            .names()
            .into_iter()
            .map(Dynamic::from)
            .collect()
    }
    /// The highest permission level: everyone, regular, subscriber, vip, moderator or
    /// broadcaster.
    #[rhai_fn(get = "level", pure)]
    pub fn user_level(u: &mut ScriptUser) -> String {
        u.data.roles.level().as_str().to_owned()
    }
    /// On the channel's list of regulars.
    #[rhai_fn(get = "is_regular", pure)]
    pub fn is_regular(u: &mut ScriptUser) -> bool {
        u.data.roles.contains(Roles::REGULAR)
    }
    #[rhai_fn(get = "is_broadcaster", pure)]
    pub fn is_broadcaster(u: &mut ScriptUser) -> bool {
        u.data.roles.contains(Roles::BROADCASTER)
    }
    /// Moderators and the broadcaster.
    #[rhai_fn(get = "is_mod", pure)]
    pub fn is_mod(u: &mut ScriptUser) -> bool {
        u.data.roles.level() >= Permission::Moderator
    }
    #[rhai_fn(get = "is_vip", pure)]
    pub fn is_vip(u: &mut ScriptUser) -> bool {
        u.data.roles.contains(Roles::VIP)
    }
    #[rhai_fn(get = "is_sub", pure)]
    pub fn is_sub(u: &mut ScriptUser) -> bool {
        u.data.roles.contains(Roles::SUBSCRIBER) || u.data.roles.contains(Roles::FOUNDER)
    }
    #[rhai_fn(get = "points", pure, return_raw)]
    pub fn user_points(u: &mut ScriptUser) -> Result<INT, Box<EvalAltResult>> {
        u.services
            .points
            .balance(&u.data.id)
            .map_err(|e| e.to_string().into())
    }
    /// Seconds watched, as counted by the bot.
    #[rhai_fn(get = "watch_time", pure)]
    pub fn user_watch_time(u: &mut ScriptUser) -> INT {
        u.services
            .users
            .by_id(&u.data.id)
            .map_or(0, |i| i.watch_time_secs.min(INT::MAX as u64) as INT)
    }
    #[rhai_fn(get = "messages", pure)]
    pub fn user_messages(u: &mut ScriptUser) -> INT {
        u.services
            .users
            .by_id(&u.data.id)
            .map_or(0, |i| i.messages.min(INT::MAX as u64) as INT)
    }
    /// `"${ctx.user}"` is the display name.
    #[rhai_fn(name = "to_string", pure)]
    pub fn user_to_string(u: &mut ScriptUser) -> String {
        u.data.name.to_string()
    }

    // ---- points ----

    #[rhai_fn(get = "points", pure)]
    pub fn points(ctx: &mut Ctx) -> PointsApi {
        PointsApi(ctx.clone())
    }
    #[rhai_fn(get = "currency", pure)]
    pub fn currency(p: &mut PointsApi) -> String {
        p.0.services().currency.clone()
    }
    #[rhai_fn(name = "get", pure, return_raw)]
    pub fn points_get(p: &mut PointsApi, who: Dynamic) -> Result<INT, Box<EvalAltResult>> {
        let user = resolve_user(p.0.services(), &who)?;
        p.0.services()
            .points
            .balance(&user.id)
            .map_err(|e| e.to_string().into())
    }
    /// Adds points and returns the new balance.
    #[rhai_fn(name = "add", pure, return_raw)]
    pub fn points_add(
        p: &mut PointsApi,
        who: Dynamic,
        amount: INT,
    ) -> Result<INT, Box<EvalAltResult>> {
        let amount = amount_ok(amount)?;
        let user = resolve_user(p.0.services(), &who)?;
        let reason = format!("script {}", p.0.data().script);
        p.0.services()
            .points
            .add(&user.to_ref(), amount, &reason)
            .map_err(|e| e.to_string().into())
    }
    /// Takes points if the balance covers them: `true` if taken, `false` (and nothing changed)
    /// if not.
    #[rhai_fn(name = "take", pure, return_raw)]
    pub fn points_take(
        p: &mut PointsApi,
        who: Dynamic,
        amount: INT,
    ) -> Result<bool, Box<EvalAltResult>> {
        let amount = amount_ok(amount)?;
        let user = resolve_user(p.0.services(), &who)?;
        let reason = format!("script {}", p.0.data().script);
        match p.0.services().points.take(&user.to_ref(), amount, &reason) {
            Ok(_) => Ok(true),
            Err(crate::scripting::stores::StoreError::NotEnoughPoints { .. }) => Ok(false),
            Err(e) => Err(e.to_string().into()),
        }
    }
    /// Gives back the viewer's newest spend not refunded yet: `#{ amount, balance }`, or `()`
    /// when there is nothing left to refund.
    #[rhai_fn(name = "refund_last", pure, return_raw)]
    pub fn points_refund_last(
        p: &mut PointsApi,
        who: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let user = resolve_user(p.0.services(), &who)?;
        let reason = format!("refund by script {}", p.0.data().script);
        match p.0.services().points.refund_last(&user.to_ref(), &reason) {
            Ok(Some((amount, balance))) => {
                let mut m = Map::new();
                m.insert("amount".into(), Dynamic::from_int(amount));
                m.insert("balance".into(), Dynamic::from_int(balance));
                Ok(Dynamic::from_map(m))
            }
            Ok(None) => Ok(Dynamic::UNIT),
            Err(e) => Err(e.to_string().into()),
        }
    }
    /// The top `n` as maps `#{ login, name, points }`.
    #[rhai_fn(name = "leaderboard", pure, return_raw)]
    pub fn points_leaderboard(p: &mut PointsApi, n: INT) -> Result<Array, Box<EvalAltResult>> {
        let n = n.clamp(0, 100) as usize;
        let rows =
            p.0.services()
                .points
                .leaderboard(n)
                .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|(u, pts)| {
                let mut m = Map::new();
                m.insert("login".into(), Dynamic::from(u.login.to_string()));
                m.insert("name".into(), Dynamic::from(u.display_name.to_string()));
                m.insert("points".into(), Dynamic::from_int(pts));
                Dynamic::from_map(m)
            })
            .collect())
    }

    // ---- the script's store ----

    #[rhai_fn(get = "store", pure)]
    pub fn store(ctx: &mut Ctx) -> StoreApi {
        StoreApi(ctx.clone())
    }
    #[rhai_fn(name = "get", pure, return_raw)]
    pub fn store_get(s: &mut StoreApi, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        store_get_or(s, key, Dynamic::UNIT)
    }
    #[rhai_fn(name = "get", pure, return_raw)]
    pub fn store_get_or(
        s: &mut StoreApi,
        key: &str,
        default: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::key_ok(key)?;
        let v =
            s.0.services()
                .store
                .get(&s.0.data().script, key)
                .map_err(|e| e.to_string())?;
        Ok(v.as_ref().map_or(default, from_json))
    }
    #[rhai_fn(name = "set", pure, return_raw)]
    pub fn store_set(
        s: &mut StoreApi,
        key: &str,
        value: Dynamic,
    ) -> Result<(), Box<EvalAltResult>> {
        super::key_ok(key)?;
        let json = to_json(&value)?;
        s.0.services()
            .store
            .set(&s.0.data().script, key, json)
            .map_err(|e| e.to_string().into())
    }
    #[rhai_fn(name = "remove", pure, return_raw)]
    pub fn store_remove(s: &mut StoreApi, key: &str) -> Result<bool, Box<EvalAltResult>> {
        s.0.services()
            .store
            .remove(&s.0.data().script, key)
            .map_err(|e| e.to_string().into())
    }
    #[rhai_fn(name = "keys", pure, return_raw)]
    pub fn store_keys(s: &mut StoreApi) -> Result<Array, Box<EvalAltResult>> {
        let keys =
            s.0.services()
                .store
                .keys(&s.0.data().script)
                .map_err(|e| e.to_string())?;
        Ok(keys.into_iter().map(Dynamic::from).collect())
    }

    // ---- the cache ----

    #[rhai_fn(get = "cache", pure)]
    pub fn cache(ctx: &mut Ctx) -> CacheApi {
        CacheApi(ctx.clone())
    }
    #[rhai_fn(name = "get", pure)]
    pub fn cache_get(c: &mut CacheApi, key: &str) -> Dynamic {
        c.0.services()
            .cache
            .get(key)
            .as_ref()
            .map_or(Dynamic::UNIT, from_json)
    }
    #[rhai_fn(name = "set", pure, return_raw)]
    pub fn cache_set(
        c: &mut CacheApi,
        key: &str,
        value: Dynamic,
    ) -> Result<(), Box<EvalAltResult>> {
        super::key_ok(key)?;
        let json = to_json(&value)?;
        c.0.services().cache.set(key, json, None);
        Ok(())
    }
    /// Keeps the entry for `seconds` (at most 30 days; longer is kept 30 days).
    #[rhai_fn(name = "set", pure, return_raw)]
    pub fn cache_set_ttl(
        c: &mut CacheApi,
        key: &str,
        value: Dynamic,
        seconds: INT,
    ) -> Result<(), Box<EvalAltResult>> {
        let Ok(secs) = u64::try_from(seconds) else {
            return Err(format!("a lifespan must be positive, not {seconds}").into());
        };
        set_for(c, key, value, secs as f64)
    }
    /// Keeps the entry for `seconds`, a fraction allowed.
    #[rhai_fn(name = "set", pure, return_raw)]
    pub fn cache_set_ttl_float(
        c: &mut CacheApi,
        key: &str,
        value: Dynamic,
        seconds: rhai::FLOAT,
    ) -> Result<(), Box<EvalAltResult>> {
        set_for(c, key, value, seconds)
    }
    fn set_for(
        c: &mut CacheApi,
        key: &str,
        value: Dynamic,
        seconds: f64,
    ) -> Result<(), Box<EvalAltResult>> {
        super::key_ok(key)?;
        if seconds.is_nan() || seconds <= 0.0 {
            return Err(
                format!("a lifespan must be a positive number of seconds, not {seconds}").into(),
            );
        }
        // Also turns +inf and huge numbers into the longest lifespan.
        let ttl = Duration::from_secs_f64(seconds.min(MAX_CACHE_SECS as f64));
        let json = to_json(&value)?;
        c.0.services().cache.set(key, json, Some(ttl));
        Ok(())
    }
    #[rhai_fn(name = "remove", pure)]
    pub fn cache_remove(c: &mut CacheApi, key: &str) -> bool {
        c.0.services().cache.remove(key)
    }
}
