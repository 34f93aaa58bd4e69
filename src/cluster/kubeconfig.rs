//! Kubeconfig for the embedded server: cluster, user and context all named `serin`, plain HTTP, no credentials.

use std::path::Path;

use anyhow::Context;

/// The kubeconfig YAML for a server at `url`.
pub fn render(url: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: serin\n  cluster:\n    server: {url}\nusers:\n- name: serin\n  user: {{}}\ncontexts:\n- name: serin\n  context:\n    cluster: serin\n    user: serin\n    namespace: {namespace}\ncurrent-context: serin\npreferences: {{}}\n"
    )
}

/// Writes the kubeconfig to `path`, creating parent directories.
pub fn write(path: &Path, url: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, render(url, "default")).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubeconfig_parses_as_yaml_with_serin_context() {
        let text = super::render("http://127.0.0.1:1234", "default");
        let v: serde_json::Value = serde_saphyr::from_str(&text).expect("valid yaml");
        assert_eq!(v["current-context"], "serin");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "http://127.0.0.1:1234");
    }
}
