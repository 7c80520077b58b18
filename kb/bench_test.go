package kb

import (
	"context"
	"testing"
)

// BenchmarkMatch is the bot's cost per question: the knowledge base's
// search and scoring over the 16-article FAQ (no Redis involved).
func BenchmarkMatch(b *testing.B) {
	c := faqCatalog(b)
	questions := []string{"我想退货怎么弄", "发票怎么开", "how do I get a refund", "你们老板是谁"}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.match(ctx, questions[i%len(questions)], ""); err != nil {
			b.Fatal(err)
		}
	}
}
