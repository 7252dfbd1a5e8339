//! HR sources: fetch employees from HR systems (IceHrm first) into HrRecords with a fetch report that says whether the fetch was complete.
