//! Preference relaxation (upstream `preferences.go`): when a pod fits nowhere, drop one
//! preference at a time in upstream's order (extra required node-affinity terms, preferred pod
//! affinity, preferred pod anti-affinity, preferred node affinity, ScheduleAnyway spread, then
//! tolerate PreferNoSchedule taints) and try again (`scheduler.go: trySchedule`).
use super::*;

impl PodData {
    /// One relaxation step in upstream's order; false when nothing is left to relax.
    pub(super) fn relax(&mut self, any_prefer_taint: bool, respect: bool) -> bool {
        self.facts_mut().relax(any_prefer_taint, respect)
    }
}

impl PodFacts {
    pub(super) fn relax(&mut self, any_prefer_taint: bool, respect: bool) -> bool {
        if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
        } else if !self.pref_affinity.is_empty() {
            self.pref_affinity.remove(0);
        } else if !self.pref_anti.is_empty() {
            self.pref_anti.remove(0);
        } else if !self.preferred_terms.is_empty() {
            self.preferred_terms.remove(0);
        } else if let Some(i) = self.spread.iter().position(|s| s.1) {
            self.spread.remove(i);
        } else if any_prefer_taint && !self.tolerate_prefer {
            self.tolerate_prefer = true;
        } else {
            return false;
        }
        self.derive(respect);
        true
    }
}

impl Run<'_, '_> {
    /// [`Run::add`] with upstream's preference relaxation: each relaxation step in turn until
    /// some target takes the pod; the last reason otherwise. The relaxed copy is made only
    /// when the pod as it is fails.
    pub(super) fn place_free(&mut self, pod: usize, base: &PodData) -> Result<(), String> {
        let mut err = match self.add(pod, base) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let mut pd = base.clone();
        while pd.relax(self.ctx.any_prefer_taint, self.ctx.opts.respect_preferences) {
            match self.add(pod, &pd) {
                Ok(()) => return Ok(()),
                Err(e) => err = e,
            }
        }
        Err(err)
    }
}
