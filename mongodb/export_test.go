package mongodb

// DocumentDiff lets the end-to-end tests of package mongodb_test compare
// stored documents with the same recursive, type-by-type comparison as
// the tests of this package.
var DocumentDiff = documentDiff
