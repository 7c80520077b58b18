// Package kb is the knowledge base: articles (a title, a Markdown body,
// tags and a language) and canned replies (with placeholders for the
// customer's name, the ticket number and the agent's name), their
// full-text search, and the matcher behind the FAQ bot.
//
// Redis is the source of truth, so every replica serves the same articles.
// Each replica keeps its own in-memory bleve index of them: built at start
// (New), brought up to date after each write it makes, on a pub/sub
// notice of another replica's write, and on a periodic check of the
// version counter for a notice it missed (Run).
//
// Search is a real full-text index with one analyzer for Chinese and
// English alike: Unicode word segmentation, full-width/half-width folding,
// lower case, overlapping bigrams of Chinese characters (Chinese has no
// spaces between words: "退货运费" is indexed as 退货, 货运, 运费) and the
// Porter stemmer for English ("returns" finds "return"). Questions lose
// their filler words first ("我想…怎么弄", "how do I…"); see query.go.
//
// Keys (prefix P, all under the hash tag {kb} so every script runs on one
// slot of a Redis Cluster; none expires):
//
//	P{kb}:articles   hash: article id → article JSON
//	P{kb}:canned     hash: canned reply id → canned reply JSON
//	P{kb}:shortcuts  hash: "s:<shortcut>" → canned id, "i:<id>" → shortcut
//	P{kb}:meta       hash: version (bumped by every change), floor (the
//	                 newest deletion forgotten by P{kb}:changes), gen (a
//	                 random id set by the first change: a log flushed and
//	                 written again has another)
//	P{kb}:changes    sorted set: "a:<id>" / "c:<id>" at the version of the
//	                 item's last change, deletions included
//	P{kb}:gone       sorted set: the deletions among them, oldest trimmed
//	                 first beyond maxTombstones
//
// and the pub/sub channel P{kb}:changed, which carries the new version
// after each change.
package kb
