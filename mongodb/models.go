package mongodb

import "go.mongodb.org/mongo-driver/v2/mongo"

// statementOverhead is an estimate of the bytes that an update or delete
// statement adds to its filter and document in a bulk request: the keys q,
// u, upsert and multi with their values and headers.
const statementOverhead = 64

// writeModel returns the driver's write model for d: an insert, an upsert
// by _id that replaces the document or sets its fields, or a delete by _id.
func writeModel(d *document) mongo.WriteModel {
	switch d.kind {
	case kindInsert:
		return mongo.NewInsertOneModel().SetDocument(d.doc)
	case kindReplace:
		return mongo.NewReplaceOneModel().SetFilter(d.filter).SetReplacement(d.doc).SetUpsert(true)
	case kindUpdate:
		return mongo.NewUpdateOneModel().SetFilter(d.filter).SetUpdate(d.doc).SetUpsert(true)
	default:
		return mongo.NewDeleteOneModel().SetFilter(d.filter)
	}
}

// requestSize returns the bytes that d adds to a bulk request.
func requestSize(d *document) int {
	return len(d.doc) + len(d.filter) + statementOverhead
}
