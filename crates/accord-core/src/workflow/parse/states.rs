//! The state machine: the initial state, `[states]` with their timers and transitions,
//! reachability, and the periodic jobs under `[[schedules]]`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::str::FromStr;

use toml::Spanned;

use super::build::Builder;
use super::raw::{RawSchedule, RawState, RawTransition};
use crate::workflow::{Branch, EventKind, EventName, RuleName, ScheduleSpec, State, StateName, TimerSpec, Transition};

impl Builder<'_, '_> {
    /// Checks the initial state: a valid name, declared under `[states]`.
    pub(super) fn initial(&mut self) -> Option<StateName> {
        let raw = self.raw;
        let initial = self.check.name(&raw.initial, StateName::parse);
        if initial.is_some() && !self.state_names.contains(raw.initial.get_ref().as_str()) {
            self.check.report(
                raw.initial.span(),
                format!("unknown initial state `{}`", raw.initial.get_ref()),
                "declare it as [states.<name>]",
            );
        }
        initial
    }

    /// Checks that there are states, then each state in turn.
    pub(super) fn states(&mut self) -> BTreeMap<StateName, State> {
        let raw = self.raw;
        if raw.states.is_empty() {
            self.check.report(
                0..0,
                "the workflow has no states",
                "declare at least an initial and a final state under [states]",
            );
        }
        let mut states = BTreeMap::new();
        for (state_key, state) in &raw.states {
            let Some(state_name) = self.check.name(state_key, StateName::parse) else { continue };
            self.exits(state_key, &state_name, state);
            self.review(state_key, &state_name, state);
            let entry_emails = self.emails(&state.emails);
            let timers = self.timers(&state_name, state);
            let transitions = self.transitions(state);
            states.insert(
                state_name.clone(),
                State {
                    name: state_name,
                    is_final: state.is_final,
                    review: state.review,
                    description: state.description.clone(),
                    label: state.label.clone(),
                    emails: entry_emails,
                    timers,
                    transitions,
                },
            );
        }
        states
    }

    /// Checks how a state ends: a final state has no transition out and arms no timers; any
    /// other state has a transition to another state.
    fn exits(&mut self, state_key: &Spanned<String>, state_name: &StateName, state: &RawState) {
        if state.is_final && !state.on.is_empty() {
            let first = state.on.keys().next().map_or(state_key.span(), |k| k.span());
            self.check.report(
                first,
                format!("final state `{state_name}` has a transition out"),
                "remove the transition, or drop `final = true`",
            );
        }
        if state.is_final && !state.timers.is_empty() {
            self.check.report(
                state_key.span(),
                format!("final state `{state_name}` arms timers"),
                "a finished instance never fires timers: remove them",
            );
        }
        let leaves = state.on.values().any(|t| t.to.as_ref().is_some_and(|to| to.get_ref() != state_key.get_ref()));
        if !state.is_final && !leaves {
            self.check.report(
                state_key.span(),
                format!("state `{state_name}` is not final and has no way out"),
                "add a transition to another state (for example on a timer), or mark it final = true",
            );
        }
    }

    /// Checks a state marked for review: not final, and left by at least one decision (else a
    /// reviewer would find it in the queue with nothing to decide).
    fn review(&mut self, state_key: &Spanned<String>, state_name: &StateName, state: &RawState) {
        if !state.review {
            return;
        }
        if state.is_final {
            self.check.report(
                state_key.span(),
                format!("final state `{state_name}` is marked for review"),
                "a finished instance waits for no one: drop `review = true`",
            );
            return;
        }
        let decided = state.on.keys().any(|event| {
            EventName::parse(event.get_ref()).is_ok_and(|name| self.events.get(&name) == Some(&EventKind::Decision))
        });
        if !decided {
            self.check.report(
                state_key.span(),
                format!("state `{state_name}` is marked for review, but no decision applies in it"),
                "add a transition on an event declared as \"decision\" (approve, say), or drop `review = true`",
            );
        }
    }

    /// Checks a state's timers: unique names, positive durations, timer events the state has a
    /// transition on.
    fn timers(&mut self, state_name: &StateName, state: &RawState) -> Vec<TimerSpec> {
        let mut timers = Vec::new();
        let mut timer_names = BTreeSet::new();
        for timer in &state.timers {
            if !timer_names.insert(timer.name.get_ref().clone()) {
                self.check.report(
                    timer.name.span(),
                    format!("timer `{}` is declared twice in state `{state_name}`", timer.name.get_ref()),
                    "give each timer its own name",
                );
            }
            let after = self.check.duration(&timer.after);
            let event = self.event_of_kind(&timer.event, Some(EventKind::Timer));
            if let Some(event) = &event {
                if !state.on.keys().any(|k| k.get_ref() == event.as_str()) {
                    self.check.report(
                        timer.event.span(),
                        format!(
                            "timer `{}` sends `{event}`, but state `{state_name}` has no transition on it",
                            timer.name.get_ref()
                        ),
                        format!("add [states.{state_name}.on.{event}]"),
                    );
                }
            }
            if let (Some(after), Some(event)) = (after, event) {
                timers.push(TimerSpec { name: timer.name.get_ref().clone(), after, event });
            }
        }
        timers
    }

    /// Checks a state's transitions, each on a declared event.
    fn transitions(&mut self, state: &RawState) -> BTreeMap<EventName, Transition> {
        let mut transitions = BTreeMap::new();
        for (event_key, transition) in &state.on {
            let Some(event) = self.event_of_kind(event_key, None) else { continue };
            let transition = self.transition(event.clone(), transition);
            transitions.insert(event, transition);
        }
        transitions
    }

    /// Checks one transition: its target state, guards, effects and emails.
    fn transition(&mut self, event: EventName, transition: &RawTransition) -> Transition {
        let to = match &transition.to {
            None => None,
            Some(to) if self.state_names.contains(to.get_ref().as_str()) => self.check.name(to, StateName::parse),
            Some(to) => {
                self.check.report(
                    to.span(),
                    format!("unknown state `{}`", to.get_ref()),
                    format!("declare [states.{}], or fix the name", to.get_ref()),
                );
                None
            }
        };
        let env = self.env;
        self.registered(&transition.guards, env.guards, "guard");
        self.registered(&transition.effects, env.effects, "effect");
        let transition_emails = self.emails(&transition.emails);
        let otherwise =
            transition.otherwise.as_ref().and_then(|otherwise| self.otherwise(&event, transition, otherwise));
        let mut branches = Vec::new();
        for branch in &transition.branches {
            self.registered(&branch.effects, env.effects, "effect");
            let when = branch.when.get_ref().trim();
            if when.is_empty() || when.split('.').any(str::is_empty) {
                self.check.report(
                    branch.when.span(),
                    format!("`when = \"{when}\"` is not a context field"),
                    "name the dotted field that holds true on this branch, such as `csp.enrolled`",
                );
                continue;
            }
            let flag = matches!(self.provided.get(when), Some((crate::workflow::ProvidedKind::Flag, _)))
                || self.field_type(when) == Some(crate::workflow::input::FieldType::Boolean);
            if !flag && !self.check.snapshot {
                let flags: Vec<&str> = self
                    .provided
                    .iter()
                    .filter(|(_, (kind, _))| *kind == crate::workflow::ProvidedKind::Flag)
                    .map(|(path, _)| *path)
                    .collect();
                self.check.report(
                    branch.when.span(),
                    format!("`when = \"{when}\"` is not a flag: a branch is taken when its field holds true"),
                    if flags.is_empty() {
                        "name a `boolean` input field; none of this workflow's start checks fills in a flag".to_owned()
                    } else {
                        format!("name a `boolean` input field, or a flag a start check fills in: {}", flags.join(", "))
                    },
                );
                continue;
            }
            if !self.state_names.contains(branch.to.get_ref().as_str()) {
                self.check.report(
                    branch.to.span(),
                    format!("unknown state `{}`", branch.to.get_ref()),
                    format!("declare [states.{}], or fix the name", branch.to.get_ref()),
                );
                continue;
            }
            let Some(to) = self.check.name(&branch.to, StateName::parse) else { continue };
            branches.push(Branch {
                when: when.to_owned(),
                to,
                effects: branch.effects.iter().filter_map(|e| RuleName::parse(e.get_ref()).ok()).collect(),
            });
        }
        Transition {
            event,
            to,
            // Unregistered names were reported above; a registered one is a valid name.
            guards: transition.guards.iter().filter_map(|g| RuleName::parse(g.get_ref()).ok()).collect(),
            effects: transition.effects.iter().filter_map(|e| RuleName::parse(e.get_ref()).ok()).collect(),
            emails: transition_emails,
            otherwise,
            branches,
        }
    }

    /// Checks a transition's `otherwise`: a final state, on a transition with effects (whose
    /// requirements are what may no longer hold).
    fn otherwise(
        &mut self,
        event: &EventName,
        transition: &RawTransition,
        otherwise: &Spanned<String>,
    ) -> Option<StateName> {
        let raw = self.raw;
        let target = otherwise.get_ref();
        match raw.states.iter().find(|(key, _)| key.get_ref() == target) {
            None => {
                self.check.report(
                    otherwise.span(),
                    format!("unknown state `{target}`"),
                    format!("declare [states.{target}] with final = true, or fix the name"),
                );
                return None;
            }
            Some((_, state)) if !state.is_final => {
                self.check.report(
                    otherwise.span(),
                    format!("`otherwise` of `{event}` names state `{target}`, which is not final"),
                    "the instance ends there, with the reason in its history: mark it final = true",
                );
                return None;
            }
            Some(_) => {}
        }
        if transition.effects.is_empty() {
            self.check.report(
                otherwise.span(),
                format!("`otherwise` of `{event}` can never apply: the transition has no effects"),
                "`otherwise` is where the instance goes when what its effects require no longer holds; remove it",
            );
        }
        self.check.name(otherwise, StateName::parse)
    }

    /// Checks that every state can be reached from the initial one (when it is declared).
    pub(super) fn reachability(&mut self, initial: Option<&StateName>) {
        let Some(initial) = initial else { return };
        let raw = self.raw;
        let mut reached = BTreeSet::from([initial.as_str()]);
        let mut queue = VecDeque::from([initial.as_str()]);
        while let Some(current) = queue.pop_front() {
            let Some((_, state)) = raw.states.iter().find(|(k, _)| k.get_ref() == current) else { continue };
            for to in
                state.on.values().flat_map(|t| t.to.iter().chain(&t.otherwise).chain(t.branches.iter().map(|b| &b.to)))
            {
                if reached.insert(to.get_ref().as_str()) {
                    queue.push_back(to.get_ref().as_str());
                }
            }
        }
        if self.state_names.contains(initial.as_str()) {
            for key in raw.states.keys().filter(|k| !reached.contains(k.get_ref().as_str())) {
                self.check.report(
                    key.span(),
                    format!("state `{}` cannot be reached from `{initial}`", key.get_ref()),
                    "add a transition into it, or remove it",
                );
            }
        }
    }

    /// Checks the periodic jobs under `[[schedules]]`: unique names, then each job in turn.
    pub(super) fn schedules(&mut self) -> Vec<ScheduleSpec> {
        let raw = self.raw;
        let mut schedules = Vec::new();
        let mut schedule_names = BTreeSet::new();
        for schedule in &raw.schedules {
            if !schedule_names.insert(schedule.name.get_ref().clone()) {
                self.check.report(
                    schedule.name.span(),
                    format!("schedule `{}` is declared twice", schedule.name.get_ref()),
                    "give each schedule its own name",
                );
            }
            if let Some(spec) = self.schedule(schedule) {
                schedules.push(spec);
            }
        }
        schedules
    }

    /// Checks one periodic job: its cron expression, its event (of kind schedule) and the states
    /// it applies to. `None` if the cron expression or the event is broken.
    fn schedule(&mut self, schedule: &RawSchedule) -> Option<ScheduleSpec> {
        let cron = match cron::Schedule::from_str(schedule.cron.get_ref()) {
            Ok(cron) => Some(cron),
            Err(err) => {
                self.check.report(
                    schedule.cron.span(),
                    format!("bad cron expression `{}`: {err}", schedule.cron.get_ref()),
                    "use seconds, minutes, hours, day of month, month, day of week, such as \"0 0 9 * * Mon-Fri\"",
                );
                None
            }
        };
        let event = self.event_of_kind(&schedule.event, Some(EventKind::Schedule));
        let mut target_states = Vec::new();
        for state in &schedule.states {
            if !self.state_names.contains(state.get_ref().as_str()) {
                self.check.report(
                    state.span(),
                    format!("unknown state `{}`", state.get_ref()),
                    "name a state declared under [states]",
                );
            } else if let Some(name) = self.check.name(state, StateName::parse) {
                target_states.push(name);
            }
        }
        let (Some(cron), Some(event)) = (cron, event) else { return None };
        Some(ScheduleSpec { name: schedule.name.get_ref().clone(), cron, event, states: target_states })
    }
}
