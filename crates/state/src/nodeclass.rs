//! EC2NodeClass → instance-type overhead and allocatable: the one translation `simulate`,
//! `instance-types` and the AWS provider share.
