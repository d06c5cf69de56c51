"""Research-grade items: identifiers looked up at Crossref and PubMed, structured records
(CSL-JSON) kept beside the item with a librarian's corrections, and the sources librarians
watch that are not feeds (PubMed searches, journals at Crossref)."""
