package learn

import (
	"github.com/gomlx/gomlx/core/graph"
)

// CrossEntropy is the mean negative log-likelihood of the labels (targets[0], integers [B])
// under the softmax of the logits pred [B, K].
func CrossEntropy(pred *graph.Node, targets []*graph.Node) *graph.Node {
	lp := graph.LogSoftmax(pred, -1)
	k := pred.Shape().Dimensions[pred.Rank()-1]
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(lp, graph.OneHot(targets[0], k, lp.DType())), -1)))
}

// MSE is the mean squared difference between pred and targets[0] (same shape).
func MSE(pred *graph.Node, targets []*graph.Node) *graph.Node {
	return graph.ReduceAllMean(graph.Square(graph.Sub(pred, targets[0])))
}
