// Command minimal is the floor a function's cold start is measured against: an aws-lambda-go
// handler that does nothing, built with the same flags as the functions.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) error { return nil })
}
