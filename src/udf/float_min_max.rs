//! `min` and `max` whose grouped form orders floats as the ungrouped one does.
//!
//! DataFusion 55's grouped float min/max compare with `partial_cmp` and
//! start from `f64::MAX`/`f64::MIN`: a NaN in a group makes the next value
//! win whatever it is (min(1.5, NaN, 2.5) = 2.5), and a group of +inf gives
//! min = 1.797e308 (apache/datafusion#24432). Ungrouped min/max (arrow's
//! kernels) use IEEE 754's total order: NaN is above +inf, -0.0 below +0.0.
//! These wrappers give grouped queries (`GROUP BY`, `downsample()`) that
//! same order; everything else is DataFusion's own min/max.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::datatypes::{
    ArrowNativeTypeOp, ArrowPrimitiveType, DataType, FieldRef, Float32Type, Float64Type,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::prim_op::PrimitiveGroupsAccumulator;

/// Which end of the order an aggregate keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End {
    Min,
    Max,
}

/// DataFusion's min or max, with a total-order groups accumulator for floats.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TotalOrderMinMax {
    end: End,
    inner: Arc<AggregateUDF>,
}

/// The `min` aggregate, floats in total order also when grouped.
pub(crate) fn min_udaf_total() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(TotalOrderMinMax {
        end: End::Min,
        inner: min_udaf(),
    }))
}

/// The `max` aggregate, floats in total order also when grouped.
pub(crate) fn max_udaf_total() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(TotalOrderMinMax {
        end: End::Max,
        inner: max_udaf(),
    }))
}

pub(crate) fn min(expr: Expr) -> Expr {
    min_udaf_total().call(vec![expr])
}

pub(crate) fn max(expr: Expr) -> Expr {
    max_udaf_total().call(vec![expr])
}

/// A groups accumulator keeping the total order's least (min) or greatest
/// (max) value. It starts from the order's far end (`far`: NaN for min,
/// -NaN for max), which any value replaces or equals.
fn total_order_accumulator<T>(
    data_type: &DataType,
    end: End,
    far: T::Native,
) -> Box<dyn GroupsAccumulator>
where
    T: ArrowPrimitiveType + Send,
{
    let keep = match end {
        End::Min => Ordering::Less,
        End::Max => Ordering::Greater,
    };
    Box::new(
        PrimitiveGroupsAccumulator::<T, _>::new(data_type, move |current, new| {
            if new.compare(*current) == keep {
                *current = new;
            }
        })
        .with_starting_value(far),
    )
}

/// The value every other one replaces or equals: NaN for min (the order's
/// top), -NaN for max (its bottom). `as f32` keeps a NaN's sign.
fn far_end(end: End) -> f64 {
    match end {
        End::Min => f64::NAN.copysign(1.0),
        End::Max => f64::NAN.copysign(-1.0),
    }
}

impl AggregateUDFImpl for TotalOrderMinMax {
    fn name(&self) -> &str {
        self.inner.inner().name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.inner().aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.inner().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.inner().return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.inner.inner().is_nullable()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.inner().accumulator(args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let data_type = args.return_field.data_type().clone();
        Ok(match data_type {
            DataType::Float64 => {
                total_order_accumulator::<Float64Type>(&data_type, self.end, far_end(self.end))
            }
            DataType::Float32 => {
                let far = far_end(self.end) as f32;
                total_order_accumulator::<Float32Type>(&data_type, self.end, far)
            }
            _ => self.inner.inner().create_groups_accumulator(args)?,
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.inner().create_sliding_accumulator(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner.inner().is_descending()
    }

    fn value_from_stats(&self, args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner.inner().value_from_stats(args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.inner().default_value(data_type)
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner.inner().set_monotonicity(data_type)
    }
}
