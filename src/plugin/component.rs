//! Loading a plugin: decompress, verify, compile (or load the precompiled form), recognise its kind and contract
//! version, and pre-link it once.

use super::contract::{Pre, Version, World};
use super::error::LoadError;
use super::runtime::Runtime;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Read;
use wasmtime::component::Component;

/// Largest component accepted after decompression.
pub const MAX_COMPONENT_SIZE: usize = 256 << 20;

/// What a plugin does, from the interface it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    MetricProvider,
    ConditionEvaluator,
    TrafficRouter,
    StepPlugin,
}

impl PluginKind {
    /// The exported interface's name in the `serin:plugin` package.
    pub fn interface(self) -> &'static str {
        match self {
            PluginKind::MetricProvider => "metric-provider",
            PluginKind::ConditionEvaluator => "condition-evaluator",
            PluginKind::TrafficRouter => "traffic-router",
            PluginKind::StepPlugin => "step",
        }
    }

    /// What the plugin is, in words: "metric provider".
    pub fn noun(self) -> &'static str {
        match self {
            PluginKind::MetricProvider => "metric provider",
            PluginKind::ConditionEvaluator => "condition evaluator",
            PluginKind::TrafficRouter => "traffic router",
            PluginKind::StepPlugin => "step plugin",
        }
    }

    fn from_interface(name: &str) -> Option<PluginKind> {
        Some(match name {
            "metric-provider" => PluginKind::MetricProvider,
            "condition-evaluator" => PluginKind::ConditionEvaluator,
            "traffic-router" => PluginKind::TrafficRouter,
            "step" => PluginKind::StepPlugin,
            _ => return None,
        })
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

/// What `serin plugin inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub kind: PluginKind,
    /// The `serin:plugin` contract version the plugin was built against.
    pub contract: Version,
    /// Size of the component (after decompression), in bytes.
    pub size: usize,
    /// Lower-case hex sha256 of the component (after decompression).
    pub sha256: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// A loaded plugin: compiled, verified and pre-linked. Each call instantiates it afresh.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) name: String,
    pub(crate) info: PluginInfo,
    pub(crate) runtime: Runtime,
    pub(crate) pre: Pre,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("info", &self.info).finish()
    }
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn kind(&self) -> PluginKind {
        self.info.kind
    }

    /// Loads a plugin from component bytes (gzip-compressed bytes are accepted). When `sha256` is given it must
    /// be exactly 64 hex digits and match the (decompressed) component.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        sha256: Option<&str>,
    ) -> Result<Plugin, LoadError> {
        let loaded = Plugin::load_uncounted(runtime, name, bytes, sha256);
        if let Err(e) = &loaded {
            super::stats::load_failed(name, e.label());
        }
        loaded
    }

    fn load_uncounted(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        sha256: Option<&str>,
    ) -> Result<Plugin, LoadError> {
        let bytes = decompress(name, bytes)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = sha256 {
            verify_digest(name, expected, &digest)?;
        }
        let component = compile(runtime, name, &bytes, &digest)?;
        let (world, imports, exports) = recognise(runtime, name, &component)?;
        let pre = link(runtime, name, world, &imports, &component)?;
        let (kind, contract) = (world.kind, world.version);
        let info = PluginInfo { kind, contract, size: bytes.len(), sha256: digest, imports, exports };
        Ok(Plugin { name: name.to_string(), info, runtime: runtime.clone(), pre })
    }
}

/// Checks a configured digest: exactly 64 hex digits, equal to the component's.
pub fn verify_digest(name: &str, expected: &str, actual: &str) -> Result<(), LoadError> {
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LoadError::BadDigest { plugin: name.to_string(), got: expected.to_string() });
    }
    if !expected.eq_ignore_ascii_case(actual) {
        return Err(LoadError::DigestMismatch {
            plugin: name.to_string(),
            expected: expected.to_ascii_lowercase(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Gzip-compressed components (to fit a ConfigMap's 1 MiB) are inflated, bounded.
fn decompress(name: &str, bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).take(MAX_COMPONENT_SIZE as u64 + 1).read_to_end(&mut out).map_err(
        |e| LoadError::Source { plugin: name.to_string(), message: format!("cannot decompress: {e}") },
    )?;
    if out.len() > MAX_COMPONENT_SIZE {
        return Err(LoadError::Source {
            plugin: name.to_string(),
            message: format!("decompressed component is larger than {MAX_COMPONENT_SIZE} bytes"),
        });
    }
    Ok(out)
}

fn compile(runtime: &Runtime, name: &str, bytes: &[u8], digest: &str) -> Result<Component, LoadError> {
    let inner = runtime.inner();
    if let Some(cached) = inner.cache.as_ref().and_then(|c| c.load(&inner.engine, digest)) {
        return Ok(cached);
    }
    if bytes.len() > MAX_COMPONENT_SIZE {
        return Err(LoadError::Source {
            plugin: name.to_string(),
            message: format!("component is larger than {MAX_COMPONENT_SIZE} bytes"),
        });
    }
    let component = Component::new(&inner.engine, bytes)
        .map_err(|e| LoadError::Invalid { plugin: name.to_string(), message: format!("{e:#}") })?;
    if let Some(cache) = &inner.cache {
        match component.serialize() {
            Ok(artefact) => cache.store(digest, &artefact),
            Err(e) => tracing::warn!(plugin = name, "cannot serialise compiled plugin: {e}"),
        }
    }
    Ok(component)
}

type Recognised = (World, Vec<String>, Vec<String>);

/// The plugin's world, from the one `serin:plugin` interface it exports and that interface's version.
fn recognise(runtime: &Runtime, name: &str, component: &Component) -> Result<Recognised, LoadError> {
    let engine = runtime.engine();
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();

    let mut worlds = Vec::new();
    for export in &exports {
        let Some((iface, version)) = serin_interface(export) else { continue };
        let Some(kind) = PluginKind::from_interface(iface) else { continue };
        let Some(version) = Version::parse(version) else { return Err(unknown_version(name, version)) };
        match World::of(kind, version) {
            Some(world) => worlds.push(world),
            None => return Err(unknown_version(name, &format!("{version} with a {}", kind.noun()))),
        }
    }
    match worlds.as_slice() {
        [] => Err(LoadError::NotAPlugin { plugin: name.to_string() }),
        [world] => Ok((*world, imports, exports)),
        several => Err(LoadError::SeveralKinds {
            plugin: name.to_string(),
            interfaces: several.iter().map(|w| w.kind.interface()).collect::<Vec<_>>().join(", "),
        }),
    }
}

fn unknown_version(name: &str, found: &str) -> LoadError {
    LoadError::UnknownVersion {
        plugin: name.to_string(),
        found: found.to_string(),
        supported: Version::supported_list(),
    }
}

/// `serin:plugin/metric-provider@0.1.0` → (`metric-provider`, `0.1.0`); unversioned names get an empty version.
fn serin_interface(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("serin:plugin/")?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

/// Refuses imports the plugin's world does not declare, then pre-links it with that world's linker.
fn link(
    runtime: &Runtime,
    name: &str,
    world: World,
    imports: &[String],
    component: &Component,
) -> Result<Pre, LoadError> {
    if let Some(import) = imports.iter().find(|i| !world.allows(i)) {
        return Err(LoadError::ImportNotInWorld {
            plugin: name.to_string(),
            import: import.clone(),
            kind: world.kind.noun(),
            world: world.name(),
            offers: world.offers(),
        });
    }
    let unsatisfied = |e: wasmtime::Error| LoadError::UnsatisfiedImports {
        plugin: name.to_string(),
        message: format!("{e:#}"),
    };
    let linker =
        runtime.inner().linker(world).ok_or_else(|| unknown_version(name, world.version.as_str()))?;
    let instance_pre = linker.instantiate_pre(component).map_err(unsatisfied)?;
    Pre::new(world, instance_pre).map_err(unsatisfied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_64_hex_digits_and_match() {
        let actual = "a".repeat(64);
        assert!(verify_digest("p", &actual, &actual).is_ok());
        assert!(verify_digest("p", &actual.to_uppercase(), &actual).is_ok());
        assert!(matches!(verify_digest("p", "abc", &actual), Err(LoadError::BadDigest { .. })));
        assert!(matches!(verify_digest("p", &"g".repeat(64), &actual), Err(LoadError::BadDigest { .. })));
        assert!(matches!(
            verify_digest("p", &"b".repeat(64), &actual),
            Err(LoadError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn serin_interfaces_are_split_into_name_and_version() {
        assert_eq!(serin_interface("serin:plugin/metric-provider@0.1.0"), Some(("metric-provider", "0.1.0")));
        assert_eq!(serin_interface("wasi:http/types@0.2.0"), None);
    }
}
