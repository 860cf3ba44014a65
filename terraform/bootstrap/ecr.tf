# The image repository: immutable tags (a commit SHA always means the same image), scanned on push,
# old images expire (keeping enough to roll back several releases).

#trivy:ignore:AVD-AWS-0033 The AWS-managed aws/ecr key: images are not secret, and pulls need no KMS grants.
resource "aws_ecr_repository" "orders_api" {
  name                 = "orders-api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS" # the AWS-managed aws/ecr key: pulls need no extra KMS grants
  }
}

resource "aws_ecr_lifecycle_policy" "orders_api" {
  repository = aws_ecr_repository.orders_api.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the newest ${var.ecr_keep_images} images (rollback targets); expire older ones"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.ecr_keep_images
      }
      action = { type = "expire" }
    }]
  })
}
