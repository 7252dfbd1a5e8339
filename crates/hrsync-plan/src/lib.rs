//! Planning: a pure function of desired state, directory snapshot, links and now, producing a Plan.
