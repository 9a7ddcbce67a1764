//! An [`Annotator`] that records what it is told; OpsItems are
//! deduplicated by their dedup string, as OpsCenter does.

use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ports::{Annotation, Annotator, Announcement, ResourceTag, ServiceError};

#[derive(Debug, Default)]
struct Log {
    /// Dedup strings, in the order their OpsItems were created.
    ops_items: Vec<String>,
    updated: Vec<(String, Annotation)>,
    resolved: Vec<String>,
    announced: Vec<(Announcement, Option<String>)>,
    withdrawn: Vec<ResourceTag>,
}

/// Records every annotation.
#[derive(Debug, Default)]
pub struct RecordingAnnotator {
    log: Mutex<Log>,
    /// How many of the next calls fail.
    pub fail_next: AtomicUsize,
}

impl RecordingAnnotator {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fault(&self) -> Result<(), ServiceError> {
        if super::take_one(&self.fail_next) {
            return Err(ServiceError {
                service: "ssm",
                message: "injected failure".into(),
            });
        }
        Ok(())
    }

    /// How many distinct OpsItems exist.
    pub fn ops_items(&self) -> usize {
        self.log().ops_items.len()
    }

    /// Every OpsItem update, with the item's id.
    pub fn updates(&self) -> Vec<(String, Annotation)> {
        self.log().updated.clone()
    }

    /// Every OpsItem resolved, in order.
    pub fn resolved(&self) -> Vec<String> {
        self.log().resolved.clone()
    }

    /// Every announcement, with the OpsItem it named.
    pub fn announced(&self) -> Vec<(Announcement, Option<String>)> {
        self.log().announced.clone()
    }

    /// Every tag taken off, in order.
    pub fn withdrawn(&self) -> Vec<ResourceTag> {
        self.log().withdrawn.clone()
    }
}

/// The OpsItem id of the `n`-th distinct dedup string.
fn id(n: usize) -> String {
    format!("oi-{n:012x}")
}

impl Annotator for RecordingAnnotator {
    async fn open(
        &self,
        annotation: &Annotation,
        dedup: &str,
    ) -> Result<Option<String>, ServiceError> {
        self.fault()?;
        let _ = annotation;
        let mut log = self.log();
        let n = match log.ops_items.iter().position(|d| d == dedup) {
            Some(n) => n,
            None => {
                log.ops_items.push(dedup.to_owned());
                log.ops_items.len() - 1
            }
        };
        Ok(Some(id(n)))
    }

    async fn update(&self, ops_item: &str, annotation: &Annotation) -> Result<(), ServiceError> {
        self.fault()?;
        self.log()
            .updated
            .push((ops_item.to_owned(), annotation.clone()));
        Ok(())
    }

    async fn resolve(&self, ops_item: &str) -> Result<(), ServiceError> {
        self.fault()?;
        self.log().resolved.push(ops_item.to_owned());
        Ok(())
    }

    async fn announce(
        &self,
        announcement: &Announcement,
        ops_item: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.fault()?;
        self.log()
            .announced
            .push((announcement.clone(), ops_item.map(str::to_owned)));
        Ok(())
    }

    async fn withdraw(&self, tag: &ResourceTag) -> Result<(), ServiceError> {
        self.fault()?;
        self.log().withdrawn.push(tag.clone());
        Ok(())
    }
}

impl RecordingAnnotator {
    /// How many OpsItem updates were made.
    pub fn update_count(&self) -> usize {
        self.log().updated.len()
    }
}
