//! On-disk cache of precompiled components, keyed by the component's sha256 and the engine's configuration, so a
//! plugin is compiled once per digest and loads in milliseconds afterwards.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Identifies the engine settings and wasmtime version an artefact was compiled for.
    engine_key: String,
}

impl ArtifactCache {
    pub fn open(dir: PathBuf, engine: &Engine) -> std::io::Result<ArtifactCache> {
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Artefacts are native code the host will map and run: keep the directory private.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        // Artefact file format: the serialized component as is (memory-mapped on load).
        "v2".hash(&mut hasher);
        Ok(ArtifactCache { dir, engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the precompiled form of the component with this digest, if cached and readable. The file is
    /// memory-mapped, so loading is quick and the compiled code is shared with the page cache.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the artefact was produced by `Component::serialize` on an engine with the same compatibility
        // hash (part of the file name), written by this cache into a private directory and renamed into place
        // only once complete; wasmtime checks its header and compatibility again when loading.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(path = %path.display(), "discarding unusable precompiled plugin: {e}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a precompiled component (atomically: written aside, then renamed).
    pub fn store(&self, sha256: &str, precompiled: &[u8]) {
        let path = self.path(sha256);
        let tmp = self.dir.join(format!(".{sha256}-{}.{}.tmp", self.engine_key, std::process::id()));
        let written = std::fs::write(&tmp, precompiled).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), "cannot cache precompiled plugin: {e}");
        }
    }
}
