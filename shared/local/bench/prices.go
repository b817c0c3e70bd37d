package bench

// Prices are US East (N. Virginia) on-demand list prices in US dollars, first pricing tier, as
// published on AWS's pricing pages in 2026 (Amazon API Gateway pricing, AWS Lambda pricing,
// Amazon DynamoDB pricing for on-demand capacity, Amazon SQS pricing, Amazon EventBridge pricing,
// Amazon S3 pricing, AWS KMS pricing, AWS Step Functions pricing), written from those pages and
// not checked again at run time. Every figure the bench prints is priced from this table alone.
var Prices = PriceTable{
	Source: "aws.amazon.com/{api-gateway,lambda,dynamodb,sqs,eventbridge,s3,kms,step-functions}/pricing, us-east-1, 2026",
	// HTTP APIs: $1.00 per million requests (first 300 million a month), each 512 KB a request.
	APIGatewayRequest: 1.00 / 1e6,
	// arm64 (the functions run on Graviton): $0.20 per million requests, $0.0000133334 per GB-second.
	LambdaRequest:  0.20 / 1e6,
	LambdaGBSecond: 0.0000133334,
	// On-demand, Standard table class: $0.625 per million write request units, $0.125 per million
	// read request units.
	DynamoDBWRU: 0.625 / 1e6,
	DynamoDBRRU: 0.125 / 1e6,
	// Standard queues: $0.40 per million requests, each 64 KB chunk of a request one request.
	SQSRequest: 0.40 / 1e6,
	// Custom events put on a bus: $1.00 per million, each 64 KB chunk of an event one event.
	EventBridgeEvent: 1.00 / 1e6,
	// S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000; GET and the rest $0.0004 per 1,000.
	S3Write: 0.005 / 1e3,
	S3Read:  0.0004 / 1e3,
	// KMS: $0.03 per 10,000 requests.
	KMSRequest: 0.03 / 1e4,
	// Step Functions Standard workflows: $0.025 per 1,000 state transitions.
	StepFunctionsTransition: 0.025 / 1e3,
}

// PriceTable is the price of one unit of each thing the bench counts, in US dollars.
type PriceTable struct {
	Source                        string
	APIGatewayRequest             float64
	LambdaRequest, LambdaGBSecond float64
	DynamoDBWRU, DynamoDBRRU      float64
	SQSRequest, EventBridgeEvent  float64
	S3Write, S3Read, KMSRequest   float64
	StepFunctionsTransition       float64
}
