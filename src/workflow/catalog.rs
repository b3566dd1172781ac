//! The set of definitions a process knows: the current file of each workflow, and every snapshot
//! an instance in flight may still be pinned to.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::{parse_definition, CheckEnv, Definition, Diagnostic, WorkflowName};

/// The outcome of reading a workflows directory.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files: usize,
    pub definitions: Vec<Definition>,
    pub problems: Vec<Diagnostic>,
}

impl LoadReport {
    /// Reads every `*.toml` in `dir`, in name order, checking each against `env`.
    pub fn read_dir(dir: &Path, env: &CheckEnv<'_>) -> std::io::Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        let mut report = LoadReport { files: paths.len(), ..LoadReport::default() };
        for path in paths {
            let shown = path.display().to_string();
            let source = std::fs::read_to_string(&path)?;
            match parse_definition(&shown, &source, env) {
                Ok(definition) => {
                    if let Some(first) = report.definitions.iter().find(|d| d.name == definition.name) {
                        report.problems.push(Diagnostic {
                            file: shown,
                            line: 1,
                            column: 1,
                            message: format!("workflow `{}` is defined twice", first.name),
                            hint: "each workflow name must be unique".into(),
                        });
                    } else {
                        report.definitions.push(definition);
                    }
                }
                Err(problems) => report.problems.extend(problems),
            }
        }
        Ok(report)
    }
}

/// Current definitions by name, plus a cache of snapshots by content hash.
#[derive(Debug, Default)]
pub struct Catalog {
    current: BTreeMap<WorkflowName, Arc<Definition>>,
    snapshots: RwLock<HashMap<String, Arc<Definition>>>,
}

impl Catalog {
    pub fn new(definitions: Vec<Definition>) -> Self {
        let mut catalog = Catalog::default();
        for definition in definitions {
            let definition = Arc::new(definition);
            catalog.remember(definition.clone());
            catalog.current.insert(definition.name.clone(), definition);
        }
        catalog
    }

    /// The definition new instances of `name` start on.
    pub fn current(&self, name: &str) -> Option<Arc<Definition>> {
        self.current.iter().find(|(n, _)| n.as_str() == name).map(|(_, d)| d.clone())
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Definition>> {
        self.current.values()
    }

    pub fn names(&self) -> Vec<String> {
        self.current.keys().map(ToString::to_string).collect()
    }

    /// A snapshot already parsed in this process.
    pub fn snapshot(&self, hash: &str) -> Option<Arc<Definition>> {
        self.snapshots.read().ok()?.get(hash).cloned()
    }

    pub fn remember(&self, definition: Arc<Definition>) {
        if let Ok(mut snapshots) = self.snapshots.write() {
            snapshots.insert(definition.hash.clone(), definition);
        }
    }
}
